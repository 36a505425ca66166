"""Amaranth hardware components of bnn-hw (imported as ``bnn_hw.hdl``).

All stages are :class:`amaranth.lib.wiring.Component`\\ s with an input stream ``i`` and an output
stream ``o`` (:mod:`amaranth.lib.stream`). Bit vectors travel LSB first, +1 as bit 1, -1 as bit 0,
with zero padding in the last word of each vector. :class:`ForkJoin` runs a body of stages beside a
shortcut FIFO and joins the two bitwise (:class:`LogicJoin`) or adds them in fixed point
(:class:`AddJoin`, after :class:`Requantize` tables). :class:`UartRx` and :class:`UartTx` carry
bytes between a stream and a serial pin; :mod:`bnn_hw.hdl.uart_server` serves the UART protocol
(:mod:`bnn_hw.wire`) around a pipeline, and :mod:`bnn_hw.hdl.verilog` writes a component as Verilog.
The components know nothing of the compiler: it builds them (:mod:`bnn_hw.compiler.lower`).
"""

from .popcount import popcount
from .repack import Repack
from .thermometer import ThermometerEncoder
from .mvu import MatrixVectorUnit
from .sliding_window import SlidingWindow
from .pool import OrPool, SumPool
from .argmax import ArgMaxHead
from .chain import Chain
from .fork_join import AddJoin, ConcatJoin, Fork, ForkJoin, LogicJoin, StreamRegister
from .fixed_point import FixedSign, Requantize
from .threshold_search import ThresholdSearch
from .permute import Permute
from .uart import UartRx, UartTx

__all__ = ["popcount", "Repack", "ThermometerEncoder", "MatrixVectorUnit", "SlidingWindow", "OrPool", "SumPool",
           "ArgMaxHead", "Chain", "AddJoin", "ConcatJoin", "FixedSign", "Requantize", "ThresholdSearch", "Fork", "ForkJoin", "LogicJoin", "StreamRegister", "Permute", "UartRx", "UartTx"]
