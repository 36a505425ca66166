"""Folding: how many parallel lanes each hardware stage gets.

Each stage's op says how it folds (:class:`~bnn_hw.compiler.ops.base.FoldRule`): fixed (one pixel or
vector per cycle), searched for a cycle budget (:meth:`~bnn_hw.compiler.ops.base.StreamOp.cheapest_fold`;
matrix-vector units over ``pe`` output lanes by ``simd`` input lanes, lane streams over values per
word), or following its producer's fold (the argmax head, table lookups, level thresholds).

Defaults: the dense or convolution layer with the most weights gets ``pe=16, simd=64`` (or its full size if smaller); every
other stage gets the cheapest folding that is no slower, so no stage is the bottleneck for nothing;
no layer gets more than those 1,024 lanes by default. A network without such a layer (gate networks)
takes its input 16 values per word.
``folding_for_fps`` picks the cheapest folding meeting a frame rate at a clock; the plan module's
``fastest_fitting_folding`` the fastest one that fits a device.
Overrides come from a JSON file (``{"dense1": {"pe": 8, "simd": 32}}``) or ``NAME=PExSIMD`` options;
``NAME=unrolled`` (``"unrolled"`` in the file) builds a dense layer unrolled, its weights as logic.
"""

from __future__ import annotations

import json
import os
import re

from ..errors import BnnHwError
from .ir import Graph
from .ops._matrix import MAX_ROM_DEPTH
from ..intmath import ceil_div
from .ops.base import Fold, FoldRule, StreamOp

__all__ = ["Fold", "MAX_ROM_DEPTH", "UNROLLED", "default_folding", "folding_for_cycles", "folding_for_fps", "parse_folding",
           "apply_folding"]


def _stages(graph: Graph, *rules: FoldRule):
    """The graph's hardware nodes whose fold rule is one of ``rules``, with their input types."""
    types = graph.types()
    for node in graph.nodes:
        if isinstance(node.op, StreamOp) and node.op.fold_rule in rules:
            yield node, types[node.inputs[0]]


def folding_for_cycles(graph: Graph, budget: int) -> dict[str, Fold]:
    """The cheapest folding of every stage that takes at most ``budget`` cycles per frame (stages
    whose fold follows their producer's get theirs from :func:`apply_folding`)."""
    if budget < 1:
        raise BnnHwError(f"a cycle budget of {budget} per frame is impossible; every stage needs at least 1")
    return {node.name: node.op.cheapest_fold(in_type, budget)
            for node, in_type in _stages(graph, FoldRule.FIXED, FoldRule.SEARCHED, FoldRule.MATRIX)}


#: The default folding gives no layer more lanes (pe * simd) than this, the biggest layer's 16x64.
DEFAULT_ANCHOR = Fold(16, 64)

#: Input values (pixels) per word by default where no stage folds against weights: 128-bit words of
#: pixels. A whole frame per word (``--folding thermometer0=1xN``) feeds a gate network every cycle.
DEFAULT_INPUT_LANES = 16


def default_folding(graph: Graph) -> dict[str, Fold]:
    """A balanced folding: ``16x64`` for the biggest layer, the cheapest no-slower folding elsewhere.

    If some stage cannot be that fast within as many lanes (a convolution's window generator needs
    ``k * k`` cycles per output pixel, and an image's pixels multiply a layer's cycles), every stage
    gets the cheapest folding that keeps up with the slowest such stage, so no layer gets more lanes
    than ``16 * 64``: wider layers congest the routing.
    """
    matrices = list(_stages(graph, FoldRule.MATRIX))
    if not matrices:
        # nothing folds against weights (a gate network takes a vector per cycle): the input's words
        # set the pace, DEFAULT_INPUT_LANES values per word
        return folding_for_cycles(graph, ceil_div(graph.inputs[0][1].size, DEFAULT_INPUT_LANES))
    biggest, in_type = max(matrices, key=lambda m: m[0].op.weight_count)
    max_pe, max_simd = biggest.op.lanes(in_type)
    anchor = Fold(min(DEFAULT_ANCHOR.pe, max_pe), min(DEFAULT_ANCHOR.simd, max_simd))
    budget = biggest.op.cycles(in_type, anchor)
    lanes = DEFAULT_ANCHOR.pe * DEFAULT_ANCHOR.simd
    floor = max(node.op.fastest_within(node_in, lanes) for node, node_in in matrices)
    if floor > budget:
        return folding_for_cycles(graph, floor)
    folds = folding_for_cycles(graph, budget)
    folds[biggest.name] = anchor
    return folds


def folding_for_fps(graph: Graph, fps: float, clock_hz: float) -> dict[str, Fold]:
    """The cheapest folding whose slowest stage still gives ``fps`` frames/s at ``clock_hz``."""
    if not fps > 0:   # also NaN
        raise BnnHwError(f"a target of {fps:g} frames/s is impossible; ask for a positive frame rate")
    budget = int(clock_hz // fps)
    if budget < 1:
        raise BnnHwError(f"{fps:g} frames/s needs more than one frame per cycle at {clock_hz / 1e6:g} MHz; "
                         f"ask for at most {clock_hz:.0f} frames/s or a faster --clock")
    return folding_for_cycles(graph, budget)


#: The folding override that builds a dense layer unrolled (its full lanes: weights as logic).
UNROLLED = "unrolled"


def _parse_option(text: str) -> tuple[str, Fold | str]:
    m = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s*=\s*(?:(\d+)\s*[xX]\s*(\d+)(:dsp)?|(unrolled))\s*", text)
    if not m or (m[5] is None and (int(m[2]) < 1 or int(m[3]) < 1)):
        raise BnnHwError(f"bad folding {text!r}: write NAME=PExSIMD with positive PE and SIMD, e.g. dense1=16x64, "
                         f"NAME=PExSIMD:dsp (multipliers in DSP blocks), or NAME=unrolled")
    return m[1], UNROLLED if m[5] else Fold(int(m[2]), int(m[3]), m[4] is not None)


def parse_folding(spec: str | os.PathLike) -> dict[str, Fold]:
    """Folding overrides from a JSON file path or a comma-separated ``NAME=PExSIMD`` list; a layer
    given as ``unrolled`` gets its full lanes when the folding is applied (:func:`apply_folding`)."""
    if os.path.isfile(spec):
        try:
            with open(spec) as f:
                data = json.load(f)
            return {str(k): UNROLLED if v == UNROLLED else Fold(int(v["pe"]), int(v["simd"]),
                                                               v.get("multipliers", False) is True)
                    for k, v in data.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise BnnHwError(f"{spec}: bad folding file ({e}); expected "
                             f'{{"dense1": {{"pe": 16, "simd": 64}}, "dense2": "unrolled", ...}}') from None
    return dict(_parse_option(part) for part in str(spec).split(",") if part.strip())


def apply_folding(graph: Graph, overrides: dict[str, Fold | str] | None = None,
                  base: dict[str, Fold] | None = None) -> dict[str, Fold]:
    """``base`` (default: :func:`default_folding`) with ``overrides`` applied (:data:`UNROLLED`: the
    layer's full lanes, for a layer that unrolls); the argmax head and table lookups follow their
    producer's pe (a table lookup with as few lanes as keep up with it)."""
    folds = dict(base) if base is not None else default_folding(graph)
    types = graph.types()
    for name, fold in (overrides or {}).items():
        if name not in folds:
            raise BnnHwError(f"folding names {name!r}, which is not a foldable layer; "
                             f"foldable layers: {', '.join(folds)}")
        if fold == UNROLLED:
            node = graph.node(name)
            if not getattr(node.op, "unrolls", False):
                raise BnnHwError(f"folding asks for {name} unrolled, but only dense layers (BinaryLinear, "
                                 f"SparseBinaryLinear) unroll")
            fold = Fold(*node.op.lanes(types[node.inputs[0]]))
        if fold.multipliers and not getattr(graph.node(name).op, "multiplies", False):
            raise BnnHwError(f"folding asks for {name} in DSP multipliers (:dsp), but only multiply-accumulate "
                             f"layers with multi-bit weights (FixedPointConv2d, PixelConv2d with weight_bits > 1) "
                             f"multiply")
        folds[name] = fold
    for node, in_type in _stages(graph, FoldRule.FOLLOWS):
        producer, fold = graph.node(node.inputs[0]), folds[node.inputs[0]]
        cycles = producer.op.cycles(types[producer.inputs[0]], fold)
        folds[node.name] = node.op.derived_fold(in_type, fold, cycles)
    return folds
