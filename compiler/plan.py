"""The hardware plan: a streamlined graph plus a folding, with per-stage costs.

This is what both the NumPy reference and the HDL generator consume::

    plan = compile_model(bnn_hw.load("net.pt"))
    classes, scores = plan.predict(images)      # bit-exact reference
    top = build_pipeline(plan)                  # Amaranth component (bnn_hw.compiler.lower)

A plan's block-RAM estimates count blocks of one primitive (``plan.block_ram``, ECP5's DP16KD by
default); :meth:`Plan.costed_for` gives the same plan costed for another device's block RAM.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ..errors import BnnHwError, FitError, UnsupportedModelError
from .blocks import Shortcut, branch_shortcut_depth, series_parallel, shortcut_depth
from .cost import DP16KD, BlockRam, Cost, gearbox_cost
from .folding import Fold, apply_folding, folding_for_cycles, folding_for_fps
from .frontend import from_model
from .ir import Graph, TensorType, validate
from .reference import predict
from .streamline import streamline

__all__ = ["Stage", "Bypass", "Block", "Plan", "compile_model", "check_fit", "fastest_fitting_folding", "FIT_HEADROOM"]


@dataclass(frozen=True)
class Bypass:
    """The shortcut of a fork-join block: a FIFO of ``depth`` words of ``width`` bits beside the body
    (``words_per_vector`` words per vector), and the gearbox (:class:`~bnn_hw.hdl.Repack` arguments)
    in front of the fork, or None; with a computing branch, the gearbox between the branch and the
    FIFO, or None."""

    width: int
    depth: int
    gearbox: tuple[int, int, int, int] | None = None
    words_per_vector: int = 1
    branch_gearbox: tuple[int, int, int, int] | None = None

    def cost(self, block_ram: BlockRam) -> Cost:
        """The FIFO of ``depth - 1`` words (its memory, output register and counters), the register
        after it, the fork and the gearbox."""
        fifo = block_ram.place(self.width, max(self.depth - 1, 1))
        count = self.depth.bit_length()
        cost = Cost(lut4=fifo.lut4 + 4 * count + 12, ff=2 * self.width + 2 * count + 4, ebr=fifo.ebr,
                    buffer_bits=self.width * self.depth)
        for gearbox in (self.gearbox, self.branch_gearbox):
            cost = cost if gearbox is None else cost + gearbox_cost(*gearbox)
        return cost


@dataclass(frozen=True)
class Stage:
    """One hardware stage: a graph node with its types, folding and estimated cost."""

    name: str
    op: object
    in_type: TensorType
    out_type: TensorType
    fold: Fold
    block_ram: BlockRam = DP16KD  #: the block RAM its ``cost.ebr`` counts
    #: the :class:`~bnn_hw.hdl.Repack` arguments of the gearbox in front of the stage, or None
    gearbox: tuple[int, int, int, int] | None = None
    #: a join's shortcut (the block's fork, FIFO and fork gearbox), whose cost is counted here
    bypass: Bypass | None = None

    @cached_property
    def cost(self) -> Cost:
        """The op's cost, plus its gearbox's and shortcut's."""
        cost = self.op.cost(self.in_type, self.fold, self.block_ram)
        if self.gearbox is not None:
            cost = cost + gearbox_cost(*self.gearbox)
        return cost if self.bypass is None else cost + self.bypass.cost(self.block_ram)

    def hardware(self):
        return self.op.hardware(self.in_type, self.fold)


@dataclass(frozen=True)
class Block:
    """A fork-join block of the hardware: ``body`` (stages and blocks) beside the shortcut FIFO of
    ``join.bypass``, joined by the ``join`` stage (its ``gearbox`` sits at the end of the body); a
    computing shortcut has its ``branch`` stages in front of the FIFO."""

    body: tuple
    join: Stage
    branch: tuple = ()

    def stages(self) -> list[Stage]:
        return _flatten(self.body) + _flatten(self.branch) + [self.join]


def _flatten(items) -> list[Stage]:
    return [s for item in items for s in (item.stages() if isinstance(item, Block) else [item])]


@dataclass(frozen=True)
class Plan:
    """A streamlined graph with a folding per stage, costed for one block-RAM primitive."""

    graph: Graph
    folds: dict
    block_ram: BlockRam = DP16KD  #: the block RAM the estimates count (the target device's)

    @cached_property
    def layout(self) -> tuple:
        """The hardware in order: stages, and :class:`Block` s for the graph's shortcut blocks, each
        stage with the gearbox in front of it."""
        items = series_parallel(self.graph)
        if items and isinstance(items[0], Shortcut):
            raise UnsupportedModelError(f"{items[0].join}: a logic shortcut needs a layer before it")
        layout, _ = self._arrange(items, self.graph.types(), None)
        return tuple(layout)

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """Every stage in order (those of a block's body, then its join)."""
        return tuple(_flatten(self.layout))

    def _stage(self, name: str, types) -> Stage:
        node = self.graph.node(name)
        return Stage(name, node.op, types[node.inputs[0]], types[name], self.folds[name], self.block_ram)

    def _arrange(self, items, types, produced):
        """``items`` as stages and blocks with their gearboxes, given the ``(word, vector)`` bits of
        the stream that feeds them (None at the input); returns them and what they produce."""
        layout = []
        for item in items:
            if isinstance(item, Shortcut):
                # the join's words (whole vectors, or lanes of fixed-point values) into the fork, out of
                # the body and out of the join; the FIFO holds as many vectors as the body takes ahead
                join = self._stage(item.join, types)
                fork = join.op.stream_words(types[item.fork], join.fold)
                joined = join.op.stream_words(join.in_type, join.fold)
                body, result = self._arrange(item.body, types, fork)
                vectors = join.op.vectors_per_frame(join.in_type)
                branch, branch_gearbox, shortcut = [], None, fork
                if item.branch:
                    branch, branch_result = self._arrange(item.branch, types, fork)
                    shortcut = join.op.stream_words(types[item.branch[-1]], join.fold)
                    branch_gearbox = _gearbox(branch_result, shortcut)
                    depth = branch_shortcut_depth(_flatten(body), _flatten(branch), vectors)
                else:
                    depth = shortcut_depth(_flatten(body), vectors)
                words = -(-shortcut[1] // shortcut[0])
                bypass = Bypass(shortcut[0], words * depth, _gearbox(produced, fork), words, branch_gearbox)
                layout.append(Block(tuple(body), replace(join, gearbox=_gearbox(result, joined), bypass=bypass),
                                    tuple(branch)))
                produced = join.op.stream_words(join.out_type, join.fold)
                continue
            stage = self._stage(item, types)
            wanted = (stage.op.word_bits(stage.in_type, stage.fold)[0], _vector_bits(stage, "in"))
            stage = replace(stage, gearbox=_gearbox(produced, wanted))
            layout.append(stage)
            produced = (stage.op.word_bits(stage.in_type, stage.fold)[1], _vector_bits(stage, "out"))
        return layout, produced

    @property
    def input_type(self) -> TensorType:
        return self.graph.inputs[0][1]

    @cached_property
    def total(self) -> Cost:
        total = Cost()
        for stage in self.stages:
            total = total + stage.cost
        return total

    @property
    def bottleneck(self) -> Stage:
        return max(self.stages, key=lambda s: s.cost.cycles)

    def costed_for(self, block_ram: BlockRam) -> "Plan":
        """This plan with its estimates counting ``block_ram`` blocks (itself if it already does)."""
        return self if block_ram == self.block_ram else replace(self, block_ram=block_ram)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reference class indices and integer scores for a batch of inputs."""
        return predict(self.graph, images)


def _vector_bits(stage: Stage, side: str) -> int:
    """Bits of one vector of the stage's ``in`` or ``out`` stream: what the op says (image stages:
    a pixel, or one group of a pixel), else the whole value."""
    value_type = stage.in_type if side == "in" else stage.out_type
    vector_bits = getattr(stage.op, f"{side}_vector_bits", None)
    return vector_bits(value_type) if vector_bits else value_type.bits


def _gearbox(produced: tuple[int, int] | None, wanted: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The :class:`~bnn_hw.hdl.Repack` arguments from ``produced`` to ``wanted`` ``(word, vector)``
    bits, or None where they agree (or at the pipeline's input)."""
    if produced is None or produced == wanted:
        return None
    return produced[1], produced[0], wanted[0], wanted[1]


def compile_model(model, folding: dict[str, Fold] | None = None, *, target_fps: float | None = None,
                  clock_hz: float | None = None, fit: tuple[str, dict[str, int]] | None = None,
                  block_ram: BlockRam = DP16KD) -> Plan:
    """Frontend, streamlining and folding: a loaded model to a validated hardware plan.

    The base folding is the default, or the cheapest meeting ``target_fps`` at ``clock_hz``, or with
    ``fit=(device, capacity)`` the fastest that fits the device with headroom; ``folding`` overrides
    single layers on top. Block RAM is estimated in blocks of ``block_ram`` (the device's primitive;
    ``capacity["ebr"]`` counts the same blocks).
    """
    graph = validate(streamline(from_model(model)))
    if target_fps is not None and fit is not None:
        raise BnnHwError("choose a target frame rate or --fit, not both")
    base = None
    if target_fps is not None:
        base = folding_for_fps(graph, target_fps, clock_hz)
    elif fit is not None:
        base = fastest_fitting_folding(graph, *fit, block_ram=block_ram)
    plan = Plan(graph, apply_folding(graph, folding, base), block_ram)
    plan.layout  # the structure is checked now, not when the hardware is built
    return plan


#: The fraction of a device that ``--fit`` lets the estimate use.
FIT_HEADROOM = 0.8


def _overused(plan: Plan, capacity: dict[str, int], headroom: float) -> str | None:
    """The first resource whose estimate exceeds ``capacity * headroom``, or None if all fit."""
    return next((r for r, available in capacity.items() if getattr(plan.total, r) > available * headroom),
                None)


def fastest_fitting_folding(graph: Graph, device: str, capacity: dict[str, int],
                            headroom: float = FIT_HEADROOM, *, block_ram: BlockRam = DP16KD) -> dict[str, Fold]:
    """The folding with the fewest cycles per frame whose estimate fits ``capacity * headroom``
    (``capacity["ebr"]`` in blocks of ``block_ram``)."""
    def plan_for(budget):
        return Plan(graph, apply_folding(graph, None, folding_for_cycles(graph, budget)), block_ram)

    slowest = plan_for(1 << 40).bottleneck.cost.cycles  # everything folded to one lane
    if _overused(plan_for(slowest), capacity, headroom):
        raise FitError(f"the network does not fit {device} even fully folded (1 lane per layer)")
    lo, hi = 1, slowest  # invariant: budget hi fits
    while lo < hi:
        mid = (lo + hi) // 2
        if not _overused(plan_for(mid), capacity, headroom):
            hi = mid
        else:
            lo = mid + 1
    return folding_for_cycles(graph, hi)


def check_fit(plan: Plan, capacity: dict[str, int], device: str, headroom: float = 1.0) -> None:
    """Raise :class:`FitError` naming the layer and resource if the estimate exceeds ``capacity``.

    ``capacity`` maps ``lut4``/``ff``/``ebr`` to the device's counts (``ebr`` in blocks of the
    plan's ``block_ram``: cost the plan for the device first with :meth:`Plan.costed_for`);
    ``headroom`` scales them.
    """
    resource = _overused(plan, capacity, headroom)
    if resource is not None:
        need, available = getattr(plan.total, resource), capacity[resource]
        worst = max(plan.stages, key=lambda s: getattr(s.cost, resource))
        unit = f"EBR ({plan.block_ram})" if resource == "ebr" else resource.upper()
        raise FitError(
            f"the network needs about {need} {unit} but {device} has {available}; "
            f"layer {worst.name} alone needs {getattr(worst.cost, resource)} (folding {worst.fold}); "
            f"fold it more (--folding {worst.name}=PExSIMD with a smaller PE or SIMD, or --fit) "
            f"or choose a larger device")
