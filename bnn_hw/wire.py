"""The UART inference protocol on the wire: bytes only, no network and no serial port (sans-IO).

The link is asynchronous serial, 8 data bits, no parity, 1 stop bit, LSB first (:func:`line_levels`).
Framing (all multi-byte fields little-endian; the CRC is CRC-16/CCITT-FALSE: polynomial 0x1021,
initial value 0xFFFF, no reflection, no final XOR, i.e. ``binascii.crc_hqx(data, 0xFFFF)``)::

    request  (host -> board):  SYNC=0xB5  CMD (1)     LEN (2)  PAYLOAD (LEN)  CRC (2) over CMD, LEN, PAYLOAD
    reply    (board -> host):  SYNC=0xB5  STATUS (1)  LEN (2)  PAYLOAD (LEN)  CRC (2) over STATUS, LEN, PAYLOAD

Commands:

- ``0x01 INFO``, empty payload. Reply payload (12 bytes, :class:`Info`): protocol version (1 byte,
  = 1), input words per frame (2), bytes per input word (1), result bytes (2), classes (1), score
  width in bits (1), design id (4: the first 4 bytes of a SHA-256 over the network's parameters and
  input layout, :func:`bnn_hw.compiler.io_layout.design_id`, so the host can check that the
  bitstream matches its model).
- ``0x02 INFER``, payload: the frame as the pipeline's input words
  (:func:`bnn_hw.compiler.io_layout.input_words`), each word as ``ceil(input_width / 8)`` bytes,
  little-endian (:func:`bnn_hw.compiler.io_layout.encode_frame`). Reply payload: the pipeline's
  output word (the class index in the low bits, then the scores) as ``ceil(result_width / 8)``
  bytes, little-endian (:func:`bnn_hw.compiler.io_layout.decode_infer_reply`).

Status: ``0 OK``, ``1 BAD_CRC``, ``2 BAD_LENGTH`` (INFER whose LEN is not the frame's size, or INFO
with LEN != 0), ``3 UNKNOWN_COMMAND``, ``4 TIMEOUT`` (a request stopped arriving midway: no byte for
the device's timeout, e.g. 1024 bit times; the device then forgets it). Error replies have an empty
payload. The device judges a request only once all of it (header, LEN payload bytes, CRC) has
arrived, in this order: CRC, then command, then length. Bytes that arrive while it waits for SYNC are
skipped. A frame reaches the pipeline only after its CRC has been checked.

Any byte sequence leaves the device able to serve the next good request, at the latest after the
line has been quiet for its timeout (a corrupted LEN can make it wait for up to 65,535 payload
bytes). The host sends one request and waits for its reply before sending the next (:func:`exchange`).

This module is what both ends share, and imports nothing of bnn-hw but :mod:`bnn_hw.errors`: the
gateware server (:mod:`bnn_hw.hdl.uart_server`) takes its constants, codes and :class:`Info` table
from here; the host client (:mod:`bnn_hw.protocol`), the simulations and the tests use
:func:`encode_request`, :class:`ReplyParser` and :func:`exchange`. What a compiled network puts in
the payloads is :mod:`bnn_hw.compiler.io_layout`.
"""

from __future__ import annotations

import binascii
import enum
from dataclasses import dataclass, fields
from typing import Protocol

from .errors import BnnHwError

__all__ = [
    "SYNC", "VERSION", "HEADER_BYTES", "CRC_BYTES", "MAX_PAYLOAD", "Command", "Status",
    "ProtocolError", "CrcError", "GarbageError", "ReplyTimeoutError", "DeviceError",
    "line_levels", "crc16", "encode_request", "encode_reply", "Reply", "ReplyParser", "Info",
    "Transport", "exchange",
]

SYNC = 0xB5          #: first byte of every request and reply
VERSION = 1          #: protocol version reported by INFO
HEADER_BYTES = 4     #: SYNC, CMD or STATUS, LEN (2)
CRC_BYTES = 2
MAX_PAYLOAD = 0xFFFF


class Command(enum.IntEnum):
    INFO = 0x01
    INFER = 0x02


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_COMMAND = 3
    TIMEOUT = 4


_STATUS_MESSAGES = {
    Status.BAD_CRC: "the device received a corrupted request (CRC mismatch); check the serial link "
                    "(baud rate, cable)",
    Status.BAD_LENGTH: "the device rejected the request's length: the frame does not match the network "
                       "in the bitstream",
    Status.UNKNOWN_COMMAND: "the device does not know the command; is the bitstream's protocol version "
                            "the host's?",
    Status.TIMEOUT: "the device stopped waiting for the rest of the request (bytes were lost on the "
                    "serial link)",
}


class ProtocolError(BnnHwError):
    """The conversation with the device went wrong (corrupted or missing reply, error status)."""


class CrcError(ProtocolError):
    """A reply's CRC does not match its contents."""


class GarbageError(ProtocolError):
    """Bytes arrived where a reply should start."""


class ReplyTimeoutError(ProtocolError):
    """The transport returned no (or not enough) bytes for a reply."""


class DeviceError(ProtocolError):
    """The device answered with an error status (:attr:`status`)."""

    def __init__(self, status: int):
        self.status = status
        message = _STATUS_MESSAGES.get(_status(status), f"the device answered with unknown status {status}")
        super().__init__(message)


def line_levels(byte: int, stop: int = 1) -> list[int]:
    """The 10 line levels of one byte on the serial link: start bit 0, data LSB first, stop bit
    (``stop=0`` makes a framing error)."""
    return [0] + [(byte >> k) & 1 for k in range(8)] + [stop]


def _status(value: int) -> int:
    """``value`` as a :class:`Status` where it is one, else the plain int."""
    try:
        return Status(value)
    except ValueError:
        return value


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (``crc16(b"123456789") == 0x29B1``)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def _frame(first: int, payload: bytes) -> bytes:
    if not 0 <= first <= 0xFF:
        raise ValueError(f"command or status must be a byte, not {first!r}")
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes is longer than the protocol's "
                            f"{MAX_PAYLOAD}")
    body = bytes([first]) + len(payload).to_bytes(2, "little") + payload
    return bytes([SYNC]) + body + crc16(body).to_bytes(2, "little")


def encode_request(command: int, payload: bytes = b"") -> bytes:
    """The bytes of a request: SYNC, ``command``, LEN, ``payload``, CRC."""
    return _frame(command, payload)


def encode_reply(status: int, payload: bytes = b"") -> bytes:
    """The bytes of a reply (what the device sends; for tests and simulated devices)."""
    return _frame(status, payload)


@dataclass(frozen=True)
class Reply:
    """One reply: its ``status`` (a :class:`Status` where known, else the raw byte) and ``payload``."""

    status: int
    payload: bytes

    def __post_init__(self):
        object.__setattr__(self, "status", _status(self.status))
        object.__setattr__(self, "payload", bytes(self.payload))

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def check(self) -> bytes:
        """The payload, or :class:`DeviceError` for an error status."""
        if not self.ok:
            raise DeviceError(self.status)
        return self.payload


class ReplyParser:
    """Cut a byte stream from the device into :class:`Reply` objects, checking each CRC.

    :meth:`feed` raises :class:`GarbageError` for bytes outside a reply (it skips them up to the
    next SYNC) and :class:`CrcError` for a reply with a bad CRC (it drops that reply's SYNC byte and
    looks for the next one). Either way it has already resynchronised: call :meth:`feed` again (with
    ``b""`` or more bytes) to go on; no byte fed is lost.
    """

    def __init__(self):
        self._buffer = bytearray()
        self._ready: list[Reply] = []

    def reset(self) -> None:
        """Forget all buffered bytes and unreturned replies."""
        self._buffer.clear()
        self._ready.clear()

    @property
    def needed(self) -> int:
        """How many more bytes the reply in progress needs at least (a header's worth when none is)."""
        buf = self._buffer
        if len(buf) < HEADER_BYTES or buf[0] != SYNC:
            return max(1, HEADER_BYTES - len(buf))
        total = HEADER_BYTES + int.from_bytes(buf[2:4], "little") + CRC_BYTES
        return max(1, total - len(buf))

    def feed(self, data: bytes = b"") -> list[Reply]:
        """Add ``data``; return the replies completed since the last call, in order."""
        self._buffer += data
        buf = self._buffer
        while buf:
            if buf[0] != SYNC:
                skip = buf.find(SYNC)
                skip = len(buf) if skip < 0 else skip
                first = buf[0]
                del buf[:skip]
                raise GarbageError(f"skipped {skip} byte(s) from the device that are not part of a reply "
                                   f"(first 0x{first:02X}); is the baud rate right?")
            if len(buf) < HEADER_BYTES:
                break
            length = int.from_bytes(buf[2:4], "little")
            total = HEADER_BYTES + length + CRC_BYTES
            if len(buf) < total:
                break
            body, crc = bytes(buf[1:HEADER_BYTES + length]), int.from_bytes(buf[total - 2:total], "little")
            if crc16(body) != crc:
                del buf[:1]
                raise CrcError(f"a reply from the device has a bad CRC (0x{crc:04X}, computed "
                               f"0x{crc16(body):04X}); check the serial link")
            self._ready.append(Reply(body[0], body[3:]))
            del buf[:total]
        ready, self._ready = self._ready, []
        return ready


@dataclass(frozen=True)
class Info:
    """What an INFO reply says about the bitstream."""

    input_words: int      #: input words per frame
    bytes_per_word: int   #: bytes per input word
    result_bytes: int     #: bytes of the result (the pipeline's output word)
    classes: int
    score_width: int      #: bits per score
    design_id: int        #: 32-bit id of the network (:func:`bnn_hw.compiler.io_layout.design_id`)
    version: int = VERSION

    _FORMAT = ((1, "version"), (2, "input_words"), (1, "bytes_per_word"), (2, "result_bytes"),
               (1, "classes"), (1, "score_width"), (4, "design_id"))
    SIZE = sum(size for size, _ in _FORMAT)  #: payload bytes of an INFO reply

    def __post_init__(self):
        for size, name in self._FORMAT:
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < 1 << (8 * size):
                raise ValueError(f"Info.{name} must fit {size} byte(s), not {value!r}")

    @property
    def frame_bytes(self) -> int:
        """Payload bytes of an INFER request."""
        return self.input_words * self.bytes_per_word

    def to_bytes(self) -> bytes:
        """The INFO reply payload."""
        return b"".join(getattr(self, name).to_bytes(size, "little") for size, name in self._FORMAT)

    @classmethod
    def from_bytes(cls, payload: bytes) -> "Info":
        """Parse an INFO reply payload; :class:`ProtocolError` if it is not one of this version."""
        if len(payload) != cls.SIZE:
            raise ProtocolError(f"INFO reply has {len(payload)} payload bytes, expected {cls.SIZE}")
        values, offset = {}, 0
        for size, name in cls._FORMAT:
            values[name] = int.from_bytes(payload[offset:offset + size], "little")
            offset += size
        if values["version"] != VERSION:
            raise ProtocolError(f"the device speaks protocol version {values['version']}, this host "
                                f"version {VERSION}; rebuild the bitstream or update bnn-hw")
        return cls(**values)

    def check_matches(self, expected: "Info") -> None:
        """Raise :class:`ProtocolError` naming what differs from ``expected`` (the host's plan)."""
        if self.design_id != expected.design_id:
            raise ProtocolError(f"the bitstream was built for another network (design id 0x{self.design_id:08X}, "
                                f"the model's is 0x{expected.design_id:08X}); build and load the bitstream "
                                f"for this model")
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(expected, item.name)
            if mine != theirs:
                raise ProtocolError(f"the bitstream's {item.name.replace('_', ' ')} is {mine}, the model needs "
                                    f"{theirs}; build and load the bitstream for this model")


class Transport(Protocol):
    """What :func:`exchange` needs: a pyserial-compatible byte pipe (``serial.Serial`` qualifies):
    ``write(bytes)``, and ``read(n) -> bytes`` that returns fewer bytes on timeout."""

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int) -> bytes: ...


def exchange(transport: Transport, request: bytes) -> Reply:
    """Send raw ``request`` bytes over ``transport`` and return the next reply, whatever its status.

    Raises :class:`ReplyTimeoutError` when the transport runs dry first, and the parser's
    :class:`CrcError` / :class:`GarbageError` for a corrupted reply.
    """
    parser = ReplyParser()
    transport.write(bytes(request))
    while True:
        data = transport.read(parser.needed)
        if not data:
            raise ReplyTimeoutError("no reply from the device within the serial timeout; is the "
                                    "bitstream loaded and the baud rate right?")
        replies = parser.feed(data)
        if replies:
            return replies[0]
