"""Amaranth hardware components of bnn-hw (imported as ``bnn_hw.hdl``).

All stages are :class:`amaranth.lib.wiring.Component`\\ s with an input stream ``i`` and an output
stream ``o`` (:mod:`amaranth.lib.stream`). Bit vectors travel LSB first, +1 as bit 1, -1 as bit 0,
with zero padding in the last word of each vector. :class:`ForkJoin` runs a body of stages beside a
shortcut FIFO and joins the two bitwise (:class:`LogicJoin`) or adds them in fixed point
(:class:`AddJoin`, after :class:`Requantize` tables). :class:`UartRx` and :class:`UartTx` carry
bytes between a stream and a serial pin; :mod:`bnn_hw.hdl.uart_server` serves the UART protocol
(:mod:`bnn_hw.wire`) around a pipeline, and :mod:`bnn_hw.hdl.verilog` writes a component as Verilog.
The hardware comes after the compiler in the data flow: each module registers the builder of the
ops its component implements (:mod:`bnn_hw.hdl.registry`), :mod:`bnn_hw.hdl.pipeline` builds a
compiled plan's whole pipeline from them, and the structure the components are built to is the one
the compiler plans with (:mod:`bnn_hw.compiler.microarch`).

Every module here is imported with the package, which registers its builders, and every component a
module lists in its ``__all__`` is exported from the package, so a new component needs no edit
here; helper functions are imported from their modules.
"""

import importlib
import pkgutil

from amaranth.lib import wiring


def _components() -> dict[str, type]:
    """Every component class that a public module of this package lists in its ``__all__``."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, wiring.Component):
                found[name] = value
    return found


_COMPONENTS = _components()
globals().update(_COMPONENTS)
__all__ = sorted(_COMPONENTS)
