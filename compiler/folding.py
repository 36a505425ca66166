"""Folding: how many parallel lanes each hardware stage gets.

A dense layer with ``pe`` output lanes and ``simd`` input lanes takes
``ceil(M / pe) * ceil(N / simd)`` cycles per frame; a convolution that many per output pixel, but at
least its window generator's ``k * k`` pixel words; the thermometer input stage reads ``simd`` pixels
per cycle; max-pools take one pixel per cycle; the argmax head takes the score layer's ``pe`` scores
per word, and so does a fixed-point table lookup (Requantize), which gives them in as few lanes as
keep up with that layer; fixed-point adds, signs and average pools take as few values per word as
keep up; a real 1x1 convolution (FixedConv) folds as a dense layer per pixel, and the thresholds
after it (LevelThresholds) take its ``pe`` sums per word.

Defaults: the dense or convolution layer with the most weights gets ``pe=16, simd=64`` (or its full size if smaller); every
other stage gets the cheapest folding that is no slower, so no stage is the bottleneck for nothing;
no layer gets more than those 1,024 lanes by default.
``folding_for_fps`` picks the cheapest folding meeting a frame rate at a clock; the plan module's
``fastest_fitting_folding`` the fastest one that fits a device.
Overrides come from a JSON file (``{"dense1": {"pe": 8, "simd": 32}}``) or ``NAME=PExSIMD`` options.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from math import ceil

from ..errors import BnnHwError
from .ir import Graph
from .ops import (Add, ArgMax, AvgPool, BinaryConv2d, BinaryDense, ChannelShuffle, Concat, FixedConv, FixedSign,
                  LevelThresholds, LogicJoin, MaxPool, Requantize, Thermometer)
from .ops._vectors import vectors

__all__ = ["Fold", "default_folding", "folding_for_cycles", "folding_for_fps", "parse_folding",
           "apply_folding"]

_MATRIX_OPS = (BinaryDense, BinaryConv2d, FixedConv)
_LANE_CHOICES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


@dataclass(frozen=True)
class Fold:
    pe: int = 1
    simd: int = 1

    def __post_init__(self):
        if not (isinstance(self.pe, int) and isinstance(self.simd, int) and self.pe >= 1 and self.simd >= 1):
            raise ValueError(f"pe and simd must be positive integers, not pe={self.pe!r} simd={self.simd!r}")

    def __str__(self):
        return f"{self.pe}x{self.simd}"


#: The deepest weight ROM a folding gets where it can: deeper, a ROM spans several block RAMs in depth
#: and the multiplexer after them sits between the block RAM's slow clock-to-output and the first
#: register (the shipped CNN's 12,288-word dense14 ROM held its clock at 97.9 MHz on the ULX3S). An
#: ECP5 DP16KD is 2,048 words deep at 9 bits wide.
MAX_ROM_DEPTH = 2048


def _cheapest(op, in_type, budget: int) -> Fold:
    """The fewest lanes (pe * simd) of a dense or convolution layer within ``budget`` cycles per frame
    and :data:`MAX_ROM_DEPTH` weight words (where some folding is); of equally many lanes, the fastest."""
    max_pe, max_simd = op.lanes(in_type)
    candidates = {Fold(min(pe, max_pe), min(simd, max_simd)) for pe in _LANE_CHOICES for simd in _LANE_CHOICES}
    costs = {(f.pe * f.simd, op.cycles(in_type, f.pe, f.simd), f.pe): f for f in candidates}
    within = [key for key in costs if key[1] <= budget]
    shallow = [key for key in within if op.rom_depth(in_type, costs[key].pe, costs[key].simd) <= MAX_ROM_DEPTH]
    return costs[min(shallow or within)] if within else Fold(max_pe, max_simd)


def folding_for_cycles(graph: Graph, budget: int) -> dict[str, Fold]:
    """The cheapest folding of every stage that takes at most ``budget`` cycles per frame."""
    if budget < 1:
        raise BnnHwError(f"a cycle budget of {budget} per frame is impossible; every stage needs at least 1")
    types = graph.types()
    folds = {}
    for node in graph.nodes:
        if isinstance(node.op, _MATRIX_OPS):
            folds[node.name] = _cheapest(node.op, types[node.inputs[0]], budget)
        elif isinstance(node.op, (MaxPool, LogicJoin, Concat, ChannelShuffle)):
            folds[node.name] = Fold(1, 1)
        elif isinstance(node.op, (Add, FixedSign, AvgPool)):
            in_type = types[node.inputs[0]]
            values = node.op.values_per_vector(in_type)
            lanes = next((n for n in _LANE_CHOICES if node.op.cycles(in_type, Fold(n, 1)) <= budget), values)
            folds[node.name] = Fold(min(lanes, values), 1)
        elif isinstance(node.op, Thermometer):
            features = types[node.inputs[0]].size
            folds[node.name] = Fold(1, min(features, next(
                (s for s in _LANE_CHOICES if ceil(features / s) <= budget), features)))
    return folds


#: The default folding gives no layer more lanes (pe * simd) than this, the biggest layer's 16x64.
DEFAULT_ANCHOR = Fold(16, 64)


def _fastest_within(op, in_type, lanes: int) -> int:
    """The fewest cycles per frame of a dense or convolution layer with at most ``lanes`` lanes."""
    max_pe, max_simd = op.lanes(in_type)
    return min(op.cycles(in_type, min(pe, max_pe), min(simd, max_simd))
               for pe in _LANE_CHOICES for simd in _LANE_CHOICES if pe * simd <= lanes)


def default_folding(graph: Graph) -> dict[str, Fold]:
    """A balanced folding: ``16x64`` for the biggest layer, the cheapest no-slower folding elsewhere.

    If some stage cannot be that fast within as many lanes (a convolution's window generator needs
    ``k * k`` cycles per output pixel, and an image's pixels multiply a layer's cycles), every stage
    gets the cheapest folding that keeps up with the slowest such stage, so no layer gets more lanes
    than ``16 * 64``: wider layers congest the routing.
    """
    types = graph.types()
    matrices = [n for n in graph.nodes if isinstance(n.op, _MATRIX_OPS)]
    biggest = max(matrices, key=lambda n: n.op.weights.size)
    in_type = types[biggest.inputs[0]]
    max_pe, max_simd = biggest.op.lanes(in_type)
    anchor = Fold(min(DEFAULT_ANCHOR.pe, max_pe), min(DEFAULT_ANCHOR.simd, max_simd))
    budget = biggest.op.cycles(in_type, anchor.pe, anchor.simd)
    lanes = DEFAULT_ANCHOR.pe * DEFAULT_ANCHOR.simd
    floor = max(_fastest_within(n.op, types[n.inputs[0]], lanes) for n in matrices)
    if floor > budget:
        return folding_for_cycles(graph, floor)
    folds = folding_for_cycles(graph, budget)
    folds[biggest.name] = anchor
    return folds


def folding_for_fps(graph: Graph, fps: float, clock_hz: float) -> dict[str, Fold]:
    """The cheapest folding whose slowest stage still gives ``fps`` frames/s at ``clock_hz``."""
    budget = int(clock_hz // fps)
    if budget < 1:
        raise BnnHwError(f"{fps:g} frames/s needs more than one frame per cycle at {clock_hz / 1e6:g} MHz; "
                         f"ask for at most {clock_hz:.0f} frames/s or a faster --clock")
    return folding_for_cycles(graph, budget)


def _parse_option(text: str) -> tuple[str, Fold]:
    m = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s*=\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise BnnHwError(f"bad folding {text!r}: write NAME=PExSIMD, e.g. dense1=16x64")
    return m[1], Fold(int(m[2]), int(m[3]))


def parse_folding(spec: str | os.PathLike) -> dict[str, Fold]:
    """Folding overrides from a JSON file path or a comma-separated ``NAME=PExSIMD`` list."""
    if os.path.isfile(spec):
        try:
            with open(spec) as f:
                data = json.load(f)
            return {str(k): Fold(int(v["pe"]), int(v["simd"])) for k, v in data.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise BnnHwError(f"{spec}: bad folding file ({e}); expected "
                             f'{{"dense1": {{"pe": 16, "simd": 64}}, ...}}') from None
    return dict(_parse_option(part) for part in str(spec).split(",") if part.strip())


def apply_folding(graph: Graph, overrides: dict[str, Fold] | None = None,
                  base: dict[str, Fold] | None = None) -> dict[str, Fold]:
    """``base`` (default: :func:`default_folding`) with ``overrides`` applied; the argmax head and
    table lookups follow their producer's pe (a table lookup with as few lanes as keep up with it)."""
    folds = dict(base) if base is not None else default_folding(graph)
    for name, fold in (overrides or {}).items():
        if name not in folds:
            raise BnnHwError(f"folding names {name!r}, which is not a foldable layer; "
                             f"foldable layers: {', '.join(folds)}")
        folds[name] = fold
    types = graph.types()
    for node in graph.nodes:
        if isinstance(node.op, ArgMax):
            folds[node.name] = Fold(1, folds[node.inputs[0]].pe)
        elif isinstance(node.op, LevelThresholds):
            folds[node.name] = Fold(folds[node.inputs[0]].pe, 1)   # the sums as they come
        elif isinstance(node.op, Requantize):
            producer, fold = graph.node(node.inputs[0]), folds[node.inputs[0]]
            in_type = types[node.inputs[0]]
            per_vector = producer.op.cycles(types[producer.inputs[0]], fold.pe, fold.simd) // vectors(in_type)
            folds[node.name] = Fold(node.op.lanes_within(fold.pe, per_vector), fold.pe)
    return folds
