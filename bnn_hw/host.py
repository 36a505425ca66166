"""The host side of a board running the UART inference server: open its serial port, classify.

    from bnn_hw.host import open_board
    with open_board("/dev/ttyUSB0", baud=1_000_000) as client:
        classes, scores = client.classify(plan, frames)

The host's client is :mod:`bnn_hw.protocol` (on :mod:`bnn_hw.wire`, the bytes shared with the
gateware server and the simulation tests); this module only adds the serial port, through pyserial.
"""

from __future__ import annotations

from contextlib import contextmanager

from .errors import BnnHwError
from .protocol import Client

__all__ = ["open_board"]


@contextmanager
def open_board(port: str, baud: int, timeout: float = 2.0):
    """A :class:`~bnn_hw.protocol.Client` on serial ``port`` at ``baud``; the port is closed after."""
    try:
        import serial
    except ImportError:
        raise BnnHwError("talking to a board needs pyserial: pip install pyserial") from None
    try:
        link = serial.Serial(port, baud, timeout=timeout)
    except (serial.SerialException, ValueError) as e:
        raise BnnHwError(f"cannot open {port} at {baud} baud ({e}); is the board plugged in and "
                         f"programmed with a --interface uart build?") from None
    try:
        link.reset_input_buffer()
        yield Client(link)
    finally:
        link.close()
