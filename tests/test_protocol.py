"""The UART protocol on the host side: framing, CRC and reply parsing (:mod:`bnn_hw.wire`), a plan's
frame and result payloads (:mod:`bnn_hw.compiler.io_layout`) and the :class:`~bnn_hw.protocol.Client`."""

import binascii

import numpy as np
import pytest

from bnn_hw.compiler.folding import Fold
from bnn_hw.compiler.io_layout import decode_infer_reply, design_id, encode_frame, input_words, plan_info
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.microarch import index_width
from bnn_hw.errors import BnnHwError
from bnn_hw.protocol import Client
from bnn_hw.wire import (SYNC, Command, CrcError, DeviceError, GarbageError, Info, ProtocolError, Reply, ReplyParser,
                         ReplyTimeoutError, Status, crc16, encode_reply, encode_request)
from conftest import random_mlp
from simulated_board import SimulatedPipeline


@pytest.fixture(scope="module")
def plan():
    """13 pixels, 4 per 32-bit word (4 bytes), 3 classes with 5-bit scores (17-bit result)."""
    return compile_model(random_mlp(13, [9], 3, thresholds=(60, 180), seed=3), {"thermometer0": Fold(1, 4)})


def _result_word(plan, cls, scores):
    """The pipeline's output word: the class index, then the scores in two's complement."""
    scores_type = plan.stages[-1].in_type
    width, shift = scores_type.width, index_width(scores_type.size)
    mask = (1 << width) - 1
    return int(cls) | sum((int(s) & mask) << (shift + width * k) for k, s in enumerate(scores))


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1 == binascii.crc_hqx(b"123456789", 0xFFFF)
    assert crc16(b"") == 0xFFFF


def test_request_layout():
    assert encode_request(Command.INFO) == bytes([0xB5, 0x01, 0x00, 0x00]) + crc16(b"\x01\x00\x00").to_bytes(2, "little")
    body = bytes([0x02, 0x03, 0x00, 0xAA, 0xBB, 0xCC])
    assert encode_request(Command.INFER, b"\xAA\xBB\xCC") == bytes([SYNC]) + body + crc16(body).to_bytes(2, "little")
    long = encode_request(Command.INFER, bytes(300))
    assert long[2:4] == (300).to_bytes(2, "little") and len(long) == 4 + 300 + 2


def test_request_rejects_bad_arguments():
    with pytest.raises(ProtocolError, match="longer than"):
        encode_request(Command.INFER, bytes(0x10000))
    with pytest.raises(ValueError, match="byte"):
        encode_request(0x100)


def test_parser_round_trip_in_pieces():
    replies = [Reply(Status.OK, b""), Reply(Status.OK, bytes(range(40))), Reply(Status.BAD_CRC, b""),
               Reply(0x7F, b"\x01")]
    stream = b"".join(encode_reply(r.status, r.payload) for r in replies)
    for chunk in (1, 3, 7, len(stream)):
        parser, got = ReplyParser(), []
        for k in range(0, len(stream), chunk):
            got += parser.feed(stream[k:k + chunk])
        assert got == replies
        assert isinstance(got[2].status, Status) and got[3].status == 0x7F
        assert parser.needed == 4


def test_parser_needed_counts_the_reply_in_progress():
    parser = ReplyParser()
    reply = encode_reply(Status.OK, bytes(10))
    assert parser.needed == 4
    parser.feed(reply[:2])
    assert parser.needed == 2
    parser.feed(reply[2:5])
    assert parser.needed == len(reply) - 5
    assert parser.feed(reply[5:]) == [Reply(Status.OK, bytes(10))]


def test_parser_resyncs_after_garbage():
    parser = ReplyParser()
    good = encode_reply(Status.OK, b"\x42")
    with pytest.raises(GarbageError, match=r"skipped 3 byte\(s\).*0x00"):
        parser.feed(b"\x00\x11\x22" + good)
    assert parser.feed() == [Reply(Status.OK, b"\x42")]
    with pytest.raises(GarbageError):
        parser.feed(b"\x01")                     # garbage alone, then the next reply
    assert parser.feed(good) == [Reply(Status.OK, b"\x42")]


def test_parser_bad_crc_then_resync():
    parser = ReplyParser()
    good = encode_reply(Status.OK, b"\x01\x02")
    bad = bytearray(good)
    bad[4] ^= 0xFF
    with pytest.raises(CrcError, match="bad CRC"):
        parser.feed(bytes(bad) + good)
    # the corrupted reply's remaining bytes are garbage up to the good reply's SYNC
    with pytest.raises(GarbageError):
        parser.feed()
    assert parser.feed() == [Reply(Status.OK, b"\x01\x02")]


def test_parser_keeps_replies_completed_before_an_error():
    parser = ReplyParser()
    first = encode_reply(Status.OK, b"\x05")
    with pytest.raises(GarbageError):
        parser.feed(first + b"\x00" + first)
    assert parser.feed() == [Reply(Status.OK, b"\x05"), Reply(Status.OK, b"\x05")]


def test_protocol_errors_are_bnn_hw_errors():
    for error in (CrcError, GarbageError, ReplyTimeoutError, DeviceError):
        assert issubclass(error, ProtocolError) and issubclass(error, BnnHwError)


@pytest.mark.parametrize("status, message", [
    (Status.BAD_CRC, "corrupted request"), (Status.BAD_LENGTH, "length"),
    (Status.UNKNOWN_COMMAND, "does not know the command"), (Status.TIMEOUT, "stopped waiting"),
    (9, "unknown status 9"),
])
def test_error_statuses_have_clear_messages(status, message):
    with pytest.raises(DeviceError, match=message) as caught:
        Reply(status, b"").check()
    assert caught.value.status == status


def test_info_round_trip_and_checks(plan):
    info = plan_info(plan)
    assert info == Info(input_words=4, bytes_per_word=4, result_bytes=3, classes=3, score_width=5,
                        design_id=design_id(plan))
    payload = info.to_bytes()
    assert len(payload) == Info.SIZE == 12
    assert payload[0] == 1 and payload[1:3] == (4).to_bytes(2, "little")
    assert payload[8:12] == design_id(plan).to_bytes(4, "little")
    assert Info.from_bytes(payload) == info
    info.check_matches(plan_info(plan))
    with pytest.raises(ProtocolError, match="another network"):
        info.check_matches(plan_info(plan, design=info.design_id ^ 1))
    with pytest.raises(ProtocolError, match="bytes per word is 4, the model needs 1"):
        info.check_matches(Info(4, 1, 3, 3, 5, info.design_id))
    with pytest.raises(ProtocolError, match="12"):
        Info.from_bytes(payload[:-1])
    with pytest.raises(ProtocolError, match="version 2"):
        Info.from_bytes(b"\x02" + payload[1:])
    with pytest.raises(ValueError, match="design_id"):
        Info(4, 4, 3, 3, 5, 1 << 32)


def test_frame_payload_is_the_input_words_little_endian(plan):
    frame = np.arange(13, dtype=np.uint8) * 19
    payload = encode_frame(plan, frame)
    assert len(payload) == 16
    words = input_words(plan, frame)
    assert [int.from_bytes(payload[k:k + 4], "little") for k in range(0, 16, 4)] == words
    assert payload[:4] == bytes(frame[:4]) and payload[12:] == bytes([frame[12], 0, 0, 0])


def test_decode_infer_reply(plan):
    frames = np.random.default_rng(0).integers(0, 256, (5, 13), dtype=np.uint8)
    classes, scores = plan.predict(frames)
    for cls, score in zip(classes, scores):
        index, got = decode_infer_reply(plan, _result_word(plan, cls, score).to_bytes(3, "little"))
        assert index == cls and np.array_equal(got, score)
    with pytest.raises(ProtocolError, match="3"):
        decode_infer_reply(plan, b"\0\0")
    with pytest.raises(ProtocolError, match="beyond"):
        decode_infer_reply(plan, (1 << 17).to_bytes(3, "little"))
    with pytest.raises(ProtocolError, match="class 3 of 3"):
        decode_infer_reply(plan, b"\x03\0\0")


class FakeDevice:
    """A transport that answers like the board (pyserial-like ``write`` / ``read``; ``read`` returns
    fewer bytes when its queue runs dry, like a timeout). INFER is answered by the compiled pipeline
    in the Amaranth simulator (:class:`~simulated_board.SimulatedPipeline`), never by the NumPy
    reference, so the client's classes can differ from the reference's."""

    def __init__(self, board, info=None, corrupt_reply=False, silent=False, reads=None):
        self.board, self.info = board, info or board.info
        self.corrupt_reply, self.silent = corrupt_reply, silent
        self.pending = bytearray()
        self.requests = []
        self.reads = reads if reads is not None else []

    def write(self, data):
        self.requests.append(bytes(data))
        if self.silent:
            return len(data)
        cmd, length = data[1], int.from_bytes(data[2:4], "little")
        payload = data[4:4 + length]
        if crc16(data[1:4 + length]) != int.from_bytes(data[4 + length:], "little"):
            reply = encode_reply(Status.BAD_CRC)
        elif cmd == Command.INFO:
            reply = encode_reply(Status.OK, self.info.to_bytes())
        elif cmd == Command.INFER and length == self.info.frame_bytes:
            reply = encode_reply(Status.OK, self.board.result(payload))
        else:
            reply = encode_reply(Status.BAD_LENGTH)
        if self.corrupt_reply:
            reply = reply[:-1] + bytes([reply[-1] ^ 1])
        self.pending += reply
        return len(data)

    def read(self, size):
        self.reads.append(size)
        data, self.pending = bytes(self.pending[:size]), self.pending[size:]
        return data


@pytest.fixture(scope="module")
def board(plan):
    return SimulatedPipeline(plan)


def test_client_classifies_like_the_reference(plan, board):
    """The client's classes and scores, computed by the simulated pipeline from the bytes the client
    sent and decoded by the client, are the reference's."""
    device = FakeDevice(board)
    client = Client(device)
    frames = np.random.default_rng(1).integers(0, 256, (6, 13), dtype=np.uint8)
    board.prime(encode_frame(plan, frame) for frame in frames)     # one simulation for all six
    classes, scores = client.classify(plan, frames)
    assert board.simulated >= 6
    ref_classes, ref_scores = plan.predict(frames)
    assert np.array_equal(scores, ref_scores) and np.array_equal(classes, ref_classes)
    assert len(set(ref_classes)) > 1                  # the frames do not all get one class
    assert device.requests[0] == encode_request(Command.INFO)
    assert device.requests[1] == encode_request(Command.INFER, encode_frame(plan, frames[0]))
    assert len(device.requests) == 7
    # reads ask for a header first, then exactly the rest of the reply
    assert device.reads[:2] == [4, Info.SIZE + 2]


def test_client_info_and_errors(plan, board):
    assert Client(FakeDevice(board)).info() == plan_info(plan)
    with pytest.raises(DeviceError, match="length") as caught:
        Client(FakeDevice(board)).infer(b"\0")
    assert caught.value.status == Status.BAD_LENGTH
    with pytest.raises(CrcError):
        Client(FakeDevice(board, corrupt_reply=True)).info()
    with pytest.raises(ReplyTimeoutError, match="no reply"):
        Client(FakeDevice(board, silent=True)).info()
    other = plan_info(plan, design=123)
    with pytest.raises(ProtocolError, match="another network"):
        Client(FakeDevice(board, info=other)).classify(plan, np.zeros((1, 13), np.uint8))


def test_client_exchange_returns_error_replies(plan, board):
    client = Client(FakeDevice(board))
    bad = bytearray(encode_request(Command.INFER, bytes(16)))
    bad[5] ^= 1
    assert client.exchange(bytes(bad)) == Reply(Status.BAD_CRC, b"")
    assert client.exchange(encode_request(Command.INFO)).payload == plan_info(plan).to_bytes()
