"""A gate netlist, fully unrolled and pipelined: one input vector per clock cycle.

The netlist (:class:`~bnn_hw.compiler.gates.Netlist`) is built as logic, one Amaranth signal per gate
level; yosys packs the gates into LUTs. A register level follows every ``levels_per_stage`` gate
levels and holds only the signals that later levels or the outputs still read. With ``classes`` the
outputs are then counted by groups (a class's score being the number of its bits that are 1): slices
of :data:`~bnn_hw.compiler.microarch.GROUP_COUNT_SLICE` bits counted by a lookup (one LUT4 per count
bit), the counts added :data:`~bnn_hw.compiler.microarch.GATE_COUNT`'s two at a time, a register
level after each step (:func:`~bnn_hw.compiler.microarch.group_count_levels`; a logic-gate network's
head); without, the output bits leave as they are (a logic convolution's gates on each window, after
a sliding-window generator).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ..compiler.gates import CONSTANT, Netlist
from ..intmath import ceil_div
from ._checks import require_positive_ints
from ._free_running import FreeRunningPipeline
from .chain import Chain
from .group_count import count_groups
from .registry import builds
from .repack import Repack
from .sliding_window import SlidingWindow

__all__ = ["GateNetwork", "gate"]


def gate(code: int, a, b):
    """Function ``code`` (:data:`~bnn_hw.compiler.gates.FUNCTIONS`) of the 1-bit values ``a``, ``b``."""
    return [Const(0, 1), a & b, a & ~b, a, ~a & b, b, a ^ b, a | b, ~(a | b), ~(a ^ b), ~b, a | ~b, ~a, ~a | b,
            ~(a & b), Const(1, 1)][code]


class GateNetwork(wiring.Component):
    """A gate netlist on every input vector, one vector per cycle: its outputs' group counts as
    ``classes`` scores, or (``classes=None``) the output bits themselves.

    Parameters
    ----------
    netlist : Netlist
        The gates; with ``classes``, its outputs split into ``classes`` equal groups, in order.
    levels_per_stage : int
        Gate levels between two pipeline registers.
    classes : int or None
        Groups (scores per output word), or None for the output bits.
    score_width : int
        Width of a signed score (with ``classes``); it must hold the group size.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(netlist.inputs)))
        One input vector per word.
    o : Out(stream.Signature(data.ArrayLayout(signed(score_width), classes)))
        Its scores, class ``k`` in lane ``k``; or ``Out(stream.Signature(unsigned(outputs)))``, the bits.
    """

    def __init__(self, netlist: Netlist, levels_per_stage: int, classes: int | None = None,
                 score_width: int | None = None):
        require_positive_ints(levels_per_stage=levels_per_stage)
        outputs = len(netlist.outputs)
        if netlist.inputs < 1 or outputs < 1:
            raise ValueError("a gate network needs inputs and outputs")
        if classes is not None:
            require_positive_ints(classes=classes, score_width=score_width)
            if outputs % classes:
                raise ValueError(f"a gate network needs its {outputs} outputs in {classes} equal groups")
            if (outputs // classes).bit_length() + 1 > score_width:
                raise ValueError(f"scores of {score_width} bits cannot hold a count of {outputs // classes}")
        self._netlist, self._classes, self._score_width = netlist.leveled(), classes, score_width
        self._levels_per_stage = levels_per_stage
        out = unsigned(outputs) if classes is None else data.ArrayLayout(signed(score_width), classes)
        super().__init__({
            "i": In(stream.Signature(unsigned(netlist.inputs))),
            "o": Out(stream.Signature(out)),
        })

    def __repr__(self):
        net = self._netlist
        return (f"GateNetwork(inputs={net.inputs}, gates={net.gates}, levels={net.levels}, "
                f"levels_per_stage={self._levels_per_stage}, classes={self._classes})")

    def elaborate(self, platform):
        m = Module()
        net, per_stage = self._netlist, self._levels_per_stage
        pipe = FreeRunningPipeline(m, self.i, self.o, "gates")
        x = pipe.stage(self.i.payload, "inputs")

        value = {s: x[s] for s in range(net.inputs)}
        gate_depth = net.depth[net.inputs:]
        cuts = dict(net.cuts(per_stage))
        for level in range(1, net.levels + 1):
            lo, hi = (int(v) for v in np.searchsorted(gate_depth, [level, level + 1]))
            bits = Signal(hi - lo, name=f"level{level}")
            m.d.comb += bits.eq(Cat(gate(int(net.code[g]), value[int(net.a[g])], value[int(net.b[g])])
                                    for g in range(lo, hi)))
            value.update({net.inputs + g: bits[g - lo] for g in range(lo, hi)})
            if level in cuts:
                live = cuts[level].tolist()
                held = pipe.stage(Cat(value[s] for s in live), f"stage{ceil_div(level, per_stage)}")
                value = {s: held[k] for k, s in enumerate(live)}

        outputs = [Const(int(inv), 1) if s == CONSTANT else value[int(s)] ^ int(inv)
                   for s, inv in zip(net.outputs.tolist(), net.inverted.tolist())]
        if self._classes is None:
            pipe.finish(Cat(outputs))
        else:
            pipe.finish(self._counts(m, pipe, outputs))
        return m

    def _counts(self, m, pipe, outputs):
        """The groups' counts of ``outputs`` (:func:`~bnn_hw.hdl.group_count.count_groups`)."""
        group = len(outputs) // self._classes
        counts = count_groups(pipe, [outputs[k * group:(k + 1) * group] for k in range(self._classes)])
        return Cat(_zero_extend(count, self._score_width) for count in counts)


def _zero_extend(value, width: int):
    return Cat(value, Const(0, width - len(value))) if len(value) < width else value


@builds(ops.GateNetwork)
def _gate_network(op, in_type, fold):
    return GateNetwork(op.netlist, op.levels_per_stage(fold), op.classes, op.score_width)


@builds(ops.LogicConv)
def _logic_conv(op, in_type, fold):
    """Sliding-window generator (padding bits 0), a gearbox to one window per word, and the gates."""
    h, w, c = in_type.shape
    stages = {"window": SlidingWindow(h, w, c, op.kernel, op.stride, op.padding, 0)}
    if op.kernel > 1:
        stages["gearbox"] = Repack(op.netlist.inputs, c, op.netlist.inputs)
    stages["gates"] = GateNetwork(op.netlist, fold.simd)
    return Chain(stages)
