"""Logic-gate networks: layers of learned two-input gates, their group popcounts, and the fully
unrolled gate network that streamlining fuses them into.

- :class:`LogicGates`: stacked gate layers (:class:`bnn_hw.nn.LogicLayer`) on a bit vector; bit ``g``
  of a layer is ``f_code[g](x[a[g]], x[b[g]])`` (:mod:`bnn_hw.compiler.gates` names the functions).
- :class:`GroupSum`: ``classes`` integer scores, each the number of 1 bits in its consecutive group.
- :class:`GateNetwork`: both as one hardware stage. Its netlist is simplified
  (:func:`~bnn_hw.compiler.gates.simplify`: constant, pass-through, inverter, duplicate and dead gates
  removed) and built unrolled and pipelined, one vector per cycle. Its fold is
  ``classes x L``: all the scores in one output word, and ``L`` gate levels between pipeline
  registers (``--folding logic1=10x4``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ... import nn as bnn
from ...errors import BnnHwError
from ..cost import BlockRam, Cost
from ..gates import FUNCTIONS, Netlist, count_groups, layered_netlist, pack_frames, simplify
from ..ir import Kind, TensorType
from ..microarch import GROUP_COUNT_SLICE, group_count_levels
from ._arrays import frozen_array
from .base import Fold, FoldRule, Op, StreamOp, ceil_div, lowers

__all__ = ["LogicGates", "GroupSum", "GateNetwork", "GATE_LEVELS_PER_STAGE", "gate_details"]

#: Gate levels between two pipeline registers by default: two levels of two-input gates read at most
#: four signals, one LUT4 (see ``benchmarks/logic_network.py`` for what other spacings give).
GATE_LEVELS_PER_STAGE = 2


def _bit_vector(in_type: TensorType, what: str) -> int:
    """The bits of ``in_type`` (a vector, or an image flattened channels-last)."""
    if in_type.kind is not Kind.BITS:
        raise ValueError(f"{what} bits (from a Thermometer, bit inputs or another logic layer), got {in_type}")
    return in_type.size


def gate_details(netlist: Netlist, gates_before: Counter) -> dict:
    """What a report says about a simplified netlist: gates before and after, levels, inputs read and
    gates by function (before -> after)."""
    after = netlist.functions()
    return {"gates_before": sum(gates_before.values()), "gates": netlist.gates, "levels": netlist.levels,
            "input_bits_read": int((netlist.last_use[:netlist.inputs] > 0).sum()),
            "gates_by_function_before_after": {name: f"{gates_before.get(name, 0)}->{after.get(name, 0)}"
                                               for name in FUNCTIONS if gates_before.get(name) or after.get(name)}}


@dataclass(frozen=True, eq=False)
class LogicGates(Op):
    """Gate layers on a vector of ``inputs`` bits: each of ``layers`` is ``(a, b, code)`` arrays whose
    indices name the previous layer's bits (the first layer's, the inputs)."""

    inputs: int
    layers: tuple

    needs_fusion = ("a LogicLayer's bits go only to another LogicLayer or to a GroupSum, which together "
                    "become one gate network")
    layer_name = "LogicLayer"

    def __post_init__(self):
        layers = tuple(tuple(frozen_array(v, dtype) for v, dtype in zip(layer, (np.int64, np.int64, np.uint8)))
                       for layer in self.layers)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "_netlist", layered_netlist(self.inputs, layers))   # checks the indices

    @property
    def netlist(self) -> Netlist:
        return self._netlist

    def __repr__(self):
        return f"LogicGates({self.inputs} -> {' -> '.join(str(len(a)) for a, _, _ in self.layers)})"

    def infer(self, inputs):
        (x,) = inputs
        if _bit_vector(x, "takes") != self.inputs:
            raise ValueError(f"expects {self.inputs} input bits, got {x.size}")
        return TensorType((len(self.layers[-1][0]),), Kind.BITS)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self._netlist(np.reshape(x, (len(x), -1)))

    def fuse(self, in_type, after):
        if isinstance(after, LogicGates):
            return LogicGates(self.inputs, self.layers + after.layers)
        if isinstance(after, GroupSum):
            return GateNetwork.of(self._netlist, after.classes)
        return None


@dataclass(frozen=True)
class GroupSum(Op):
    """``classes`` scores of a bit vector: the number of 1 bits in each of its equal consecutive groups."""

    classes: int

    needs_fusion = "a GroupSum counts the bits of logic-gate layers (LogicLayer) only"

    def infer(self, inputs):
        (x,) = inputs
        n = _bit_vector(x, "counts")
        if n % self.classes:
            raise ValueError(f"cannot split {n} bits into {self.classes} equal groups")
        return TensorType((self.classes,), Kind.INT, (n // self.classes).bit_length() + 1)

    def reference(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.int64)
        return x.reshape(len(x), self.classes, -1).sum(-1)   # any shape: flattened


@dataclass(frozen=True, eq=False)
class GateNetwork(StreamOp):
    """A simplified gate netlist and the group popcounts of its outputs, unrolled: one vector per cycle.

    ``gates_before`` counts the gates by function before simplification (for the report).
    """

    netlist: Netlist
    classes: int
    gates_before: Counter = field(default_factory=Counter)

    fold_rule = FoldRule.SEARCHED

    @classmethod
    def of(cls, netlist: Netlist, classes: int) -> "GateNetwork":
        """The network of ``netlist`` (simplified here) and ``classes`` group sums."""
        if len(netlist.outputs) % classes:
            raise ValueError(f"cannot split {len(netlist.outputs)} bits into {classes} equal groups")
        return cls(simplify(netlist).leveled(), classes, netlist.functions())

    @property
    def group(self) -> int:
        return len(self.netlist.outputs) // self.classes

    @property
    def score_width(self) -> int:
        return self.group.bit_length() + 1

    def __repr__(self):
        net = self.netlist
        return (f"GateNetwork({net.inputs} bits, {net.gates} gates in {net.levels} levels "
                f"(of {sum(self.gates_before.values())}), {self.classes} groups of {self.group})")

    def infer(self, inputs):
        (x,) = inputs
        if _bit_vector(x, "takes") != self.netlist.inputs:
            raise ValueError(f"expects {self.netlist.inputs} input bits, got {x.size}")
        return TensorType((self.classes,), Kind.INT, self.score_width)

    def reference(self, x: np.ndarray) -> np.ndarray:
        """Bit-sliced: 64 frames per machine word through the netlist and the group counters."""
        x = np.asarray(x, np.uint8).reshape(len(x), -1)     # an image flattened channels-last
        return count_groups(self.netlist.evaluate(pack_frames(x)), self.classes, len(x))

    # -- folding: all scores per word; the fold's simd is the gate levels between registers --------

    def lanes(self, in_type) -> tuple[int, int]:
        return self.classes, max(self.netlist.levels, 1)

    def cheapest_fold(self, in_type, budget: int) -> Fold:
        return Fold(self.classes, GATE_LEVELS_PER_STAGE)

    def levels_per_stage(self, fold: Fold) -> int:
        """Gate levels between pipeline registers (the fold's ``simd``); the fold's ``pe`` must be
        ``classes``: the network gives every score in one word."""
        if fold.pe != self.classes:
            raise BnnHwError(f"a gate network gives all its {self.classes} scores in one word: fold it as "
                             f"{self.classes}xL, L being the gate levels between pipeline registers, not {fold}")
        return fold.simd

    def cycles(self, in_type, fold) -> int:
        return 1

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        self.levels_per_stage(fold)
        return self.netlist.inputs, self.classes * self.score_width

    def latency(self, in_type, fold) -> int:
        """Register levels from a vector's word to its scores' word: the input register, the netlist's
        cuts, and the group count's levels (:func:`~bnn_hw.compiler.microarch.group_count_levels`)."""
        return 1 + len(self.netlist.cuts(self.levels_per_stage(fold))) + len(group_count_levels(self.group))

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """Logic: each gate is at most one LUT4 before yosys packs them (``benchmarks/logic_network.py``
        measures what packing saves); registers: every signal held at each pipeline cut, the inputs,
        the counts and the output FIFO."""
        net = self.netlist
        held = sum(len(signals) for _, signals in net.cuts(self.levels_per_stage(fold)))
        count_lut4, count_ff = _count_cost(self.group)
        width = self.classes * self.score_width
        return Cost(cycles=1, lut4=net.gates + self.classes * count_lut4 + 2 * width,
                    ff=net.inputs + held + self.classes * count_ff + width,
                    binary_ops=net.gates + len(net.outputs))

    def traffic(self, in_type, fold):
        """One operation per gate and per counted bit; nothing is read from memory."""
        from ..energy import Traffic
        net = self.netlist
        return Traffic(binary_ops=net.gates + len(net.outputs), int_ops=self.classes * ceil_div(self.group, GROUP_COUNT_SLICE))

    def details(self) -> dict:
        return gate_details(self.netlist, self.gates_before)


def _count_cost(bits: int) -> tuple[int, int]:
    """LUT4 and FF of counting ``bits`` bits (:func:`~bnn_hw.compiler.microarch.group_count_levels`):
    one LUT4 per bit of each slice's count, one LUT4-equivalent (half a CCU2C) per bit of each sum,
    and every level's counts registered."""
    held = sum(count.bit_length() for level in group_count_levels(bits) for count in level)
    return held, held


@lowers(bnn.LogicLayer)
def _lower_logic_layer(layer, ctx):
    try:
        inputs = _bit_vector(ctx.in_type, "takes")
    except ValueError as e:
        raise ctx.error(str(e)) from None
    if inputs != layer.in_bits:
        raise ctx.error(f"expects {layer.in_bits} input bits, but the layer before gives {inputs}")
    a, b, code = layer.netlist()
    if len(ctx.in_type.shape) == 3:
        if not ctx.flattened:
            raise ctx.error("a LogicLayer after an image needs a Flatten before it")
        # torch flattens (channels, height, width); the hardware streams (height, width, channels)
        h, w, c = ctx.in_type.shape
        order = np.arange(inputs).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
        a, b = order[a], order[b]
    return [ctx.node("logic", LogicGates(inputs, ((a, b, code),)))]


@lowers(bnn.GroupSum)
def _lower_group_sum(layer, ctx):
    return [ctx.node("groupsum", GroupSum(layer.classes))]
