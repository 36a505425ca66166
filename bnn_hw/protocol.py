"""The host side of the UART inference protocol: a :class:`Client` for a board running the server.

The bytes on the wire (framing, CRC, commands, status codes, the INFO table, one request and its
reply) are :mod:`bnn_hw.wire`, shared with the gateware server and the simulations; what a
compiled network's frames and results look like in the payloads is :mod:`bnn_hw.compiler.io_layout`.
This module puts the two together for the host: ask the device what it runs, check that it is the
plan's network, classify frames. It does no I/O of its own (the transport is anything pyserial-like;
:mod:`bnn_hw.host` opens the serial port).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .compiler.io_layout import decode_infer_reply, encode_frame, plan_info
from .wire import Command, Info, Reply, Transport, encode_request, exchange

__all__ = ["Client"]


class Client:
    """Talk to the inference server over ``transport`` (anything with ``write(bytes)`` and
    ``read(n) -> bytes`` that returns fewer bytes on timeout, like ``serial.Serial``)."""

    def __init__(self, transport: Transport):
        self._transport = transport

    def exchange(self, request: bytes) -> Reply:
        """Send raw ``request`` bytes and return the next reply, whatever its status
        (:func:`bnn_hw.wire.exchange`)."""
        return exchange(self._transport, request)

    def request(self, command: int, payload: bytes = b"") -> bytes:
        """Send a request; return the reply's payload, or raise :class:`~bnn_hw.wire.DeviceError`
        for an error status."""
        return self.exchange(encode_request(command, payload)).check()

    def info(self) -> Info:
        """Ask the device what it is (:class:`~bnn_hw.wire.Info`)."""
        return Info.from_bytes(self.request(Command.INFO))

    def infer(self, frame_payload: bytes) -> bytes:
        """Run one frame (an :func:`~bnn_hw.compiler.io_layout.encode_frame` payload); return the INFER
        reply payload."""
        return self.request(Command.INFER, frame_payload)

    def classify(self, plan, frames: Sequence | np.ndarray, *, design: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Classify ``frames`` on the device after checking (INFO) that it runs ``plan``'s network
        (``design`` overrides the plan's design id).

        Returns ``(classes, scores)`` like ``plan.predict``: ``(frames,)`` and ``(frames, classes)``.
        """
        self.info().check_matches(plan_info(plan, design))
        results = [decode_infer_reply(plan, self.infer(encode_frame(plan, frame))) for frame in frames]
        scores_type = plan.stages[-1].in_type
        return (np.array([index for index, _ in results], np.int64),
                np.array([scores for _, scores in results], np.int64).reshape(len(results), scores_type.size))
