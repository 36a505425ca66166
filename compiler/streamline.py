"""Streamlining: fold Scale / BatchNorm / Sign after a BinaryDense or BinaryConv2d into integer thresholds,
and Scale / BatchNorm / Quantize into a fixed-point table.

For a BinaryDense with N inputs the popcount ``p`` takes only the values ``0..N``, so the real-valued
chain ``dot = 2p - N -> [Scale] -> [BatchNorm] -> Sign`` is a function of ``p`` alone. The pass
evaluates that chain with the model's own float32 PyTorch operations on every possible ``p`` and reads
the threshold off the result. This is exact by construction: ties, a negative BN scale (the
channel's weights are flipped, since ``popcount(xnor(x, ~w)) = N - p``) and a zero BN scale (a
constant channel, threshold 0 or N + 1) all come out as the trained model computes them. A
convolution with zero padding gets one threshold table per border class, from its exact correction.

A chain ending in a :class:`~.ops.Quantize` (Bi-Real's real-valued feature map) is folded the same
way into a :class:`~.ops.Requantize` table: the fixed-point integer of every possible ``p``, per
channel, after the layer, which then gives its integer scores.

After a :class:`~.ops.FixedConv` (the real 1x1 convolution of Bi-Real's downsampling shortcut) the
sums take too many values for a table; the chain is a monotone step function of the sum per channel
(float32 operations are monotone), so it folds into :class:`~.ops.LevelThresholds`, found by a
binary search on the model's own float32 operations and checked against them (:func:`fold_levels`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import UnsupportedModelError
from .ir import Graph, Node, checked_pass
from .ops import (BatchNorm, BinaryConv2d, BinaryDense, FixedConv, LevelThresholds, PixelConv2d, Quantize, Requantize,
                  Scale, Sign)

__all__ = ["streamline", "fold_thresholds", "fold_table", "fold_levels"]

#: :func:`fold_levels` checks its thresholds on every sum of a domain up to this size (values times
#: channels), else on this many random sums and those next to every threshold.
_LEVEL_CHECKS = 1 << 22

_FOLDABLE = (Scale, BatchNorm)


def fold_thresholds(n_inputs: int, channels: int, chain, offsets=None, *,
                    pixels: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds for ``sign(chain(dot + offset))`` over every possible dot product, per channel.

    ``chain`` is the real-valued ops (Scale, BatchNorm) and last the :class:`Sign`, whose K offsets
    give K thresholds per channel (a multi-slice sign; one for the plain sign). For binary inputs the
    hardware counts ``p = 0..N`` matches and ``dot = 2p - N``; with ``pixels`` it sums ``dot =
    -255 N..255 N`` directly. ``offsets`` (classes, channels) are exact integer corrections of the
    dot product (a convolution's zero padding, one row per border class); without them there is one
    class and no correction. Returns ``(thresholds, flip)``: ``flip[c]`` says channel c's weights
    must be inverted (which maps ``p`` to ``N - p``, ``dot`` to ``-dot``), after which output bit
    ``j`` of class ``q`` is ``count >= thresholds[q, c, j]`` with ``count`` what the hardware computes
    against the (flipped) weights.
    """
    import torch

    *real, sign = chain
    offsets = np.zeros((1, channels), np.int64) if offsets is None else np.asarray(offsets, np.int64)
    if pixels:
        domain = np.arange(-255 * n_inputs, 255 * n_inputs + 1)
        base = domain
    else:
        domain = np.arange(n_inputs + 1)
        base = 2 * domain - n_inputs
    dots = base[None, :, None] + offsets[:, None, :]          # (classes, values, M)
    with torch.no_grad():
        t = _through(real, dots.reshape(-1, channels))
        bits = sign.slice_bits(t).numpy().reshape(dots.shape + (-1,))  # (classes, values, M, K)
    steps = np.diff(bits.astype(np.int8), axis=1)
    rising = (steps >= 0).all(axis=(0, 1, 3))
    falling = (steps <= 0).all(axis=(0, 1, 3))
    if not (rising | falling).all():
        c = int(np.flatnonzero(~(rising | falling))[0])
        raise UnsupportedModelError(f"channel {c}: the activation is not monotonic in the popcount, "
                                    f"so it cannot be a threshold")
    flip = ~rising  # constant channels are rising too
    # Flipping maps the domain onto itself in reverse order, so the bit pattern is reversed.
    oriented = np.where(flip[None, None, :, None], bits[:, ::-1], bits)
    ones = oriented.sum(axis=1)  # bits are 0...0 1...1 over the domain: (classes, M, K)
    first_one = np.minimum(len(domain) - ones, len(domain) - 1)
    thresholds = np.where(ones > 0, domain[first_one], domain[-1] + 1)
    return thresholds.astype(np.int64), flip


def fold_table(n_inputs: int, channels: int, chain) -> np.ndarray:
    """The integers ``quantize(chain(2p - N))`` for ``p = 0..N``, per channel: ``(channels, N + 1)``.

    ``chain`` is the real-valued ops (Scale, BatchNorm) and last the :class:`~.ops.Quantize`, run
    with the model's float32 PyTorch operations on every possible dot product.
    """
    import torch

    *real, quantize = chain
    dots = 2 * np.arange(n_inputs + 1) - n_inputs
    with torch.no_grad():
        t = _through(real, np.repeat(dots[:, None], channels, axis=1))
        return quantize.integers(t).numpy().astype(np.int64).T


def fold_levels(conv: FixedConv, in_type, chain) -> tuple[FixedConv, LevelThresholds]:
    """``conv`` (with its sums as output) and the :class:`LevelThresholds` equal to ``chain`` (the
    real-valued ops, last the :class:`~.ops.Quantize`) applied to its real outputs ``S / 2**frac``.

    Per channel the sums lie in ``lo..hi`` (from the weights and the inputs' range). A channel whose
    values fall as ``S`` rises has its weights negated, so all rise; its thresholds are where each
    next value is first reached, by a binary search run on all channels and values at once with the
    model's float32 operations. The result is checked against those operations on every sum (or, for
    large domains, on random sums and those next to every threshold).
    """
    import torch

    from ..hdl.mvu import element_range

    *real, quantize = chain
    w = conv.weights
    e_lo, e_hi = element_range(in_type.width, True)
    lo, hi = np.minimum(w * e_lo, w * e_hi).sum(axis=1), np.maximum(w * e_lo, w * e_hi).sum(axis=1)

    def value(sums: np.ndarray, sign: np.ndarray) -> np.ndarray:
        """The model's integers ``k`` for sums (rows, channels) of the weights times ``sign``."""
        with torch.no_grad():
            t = _through(real, (sign * sums).astype(np.float64) * 2.0 ** -conv.frac)
            return quantize.integers(t).numpy().astype(np.int64)

    ones = np.ones(len(w), np.int64)
    flip = value(hi[None], ones)[0] < value(lo[None], ones)[0]
    sign = np.where(flip, -1, 1)
    lo, hi = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
    base, top = int(value(lo[None], sign).min()), int(value(hi[None], sign).max())
    targets = base + 1 + np.arange(max(top - base, 1))[:, None]           # (K, 1): each next value
    left, right = np.broadcast_to(lo, (len(targets), len(w))).copy(), np.broadcast_to(hi + 1, (len(targets), len(w))).copy()
    while (left < right).any():
        mid = (left + right) // 2
        reached = value(np.minimum(mid, hi), sign) >= targets
        right, left = np.where(reached & (left < right), mid, right), np.where(~reached & (left < right), mid + 1, left)
    levels = LevelThresholds(left.T.copy(), base, quantize.frac)
    _check_levels(levels, lambda sums: value(sums, sign), lo, hi)
    weights = w * sign[:, None]
    return FixedConv(weights, conv.weight_frac, conv.in_frac, sums=True), levels


def _check_levels(levels: LevelThresholds, value, lo: np.ndarray, hi: np.ndarray) -> None:
    """Raise if ``levels`` differs from ``value`` on the sums ``lo..hi`` per channel (all of them,
    or a sample and the neighbours of every threshold)."""
    span = int((hi - lo).max()) + 1
    if span * len(lo) <= _LEVEL_CHECKS:
        sums = lo + np.arange(span)[:, None]
    else:
        rng = np.random.default_rng(0)
        edges = levels.thresholds.T
        sums = np.concatenate([lo + (rng.random((_LEVEL_CHECKS // len(lo), 1)) * (hi - lo + 1)).astype(np.int64),
                               edges - 1, edges])
    sums = np.clip(sums, lo, hi)
    wrong = levels.reference(sums) != value(sums)
    if wrong.any():
        c = int(np.flatnonzero(wrong.any(axis=0))[0])
        raise UnsupportedModelError(f"channel {c}: the activation after the 1x1 convolution is not monotonic in "
                                    f"its sum, so it cannot be thresholds")


def _through(real, dots: np.ndarray):
    """The float32 torch tensor of the real-valued ops ``real`` (Scale, BatchNorm) applied in turn
    to the integer dot products ``dots`` (rows, channels), as the trained model computes them."""
    import torch

    t = torch.as_tensor(dots.astype(np.float32))
    for op in real:
        t = op.torch_forward(t)
    return t


def _requantized(op, in_type, chain, name: str) -> Requantize:
    """The table of ``chain`` (ending in Quantize) after ``op``'s scores; ``name`` is its node's."""
    if isinstance(op, PixelConv2d) or (isinstance(op, BinaryConv2d) and
                                       (op.groups > 1 or len(op.border_classes(*in_type.shape[:2])[1]) > 1)):
        raise UnsupportedModelError(
            f"{name}: a fixed-point value must come from a BinaryLinear or an ungrouped BinaryConv2d that "
            f"pads with -1, +1 or replicate (not zero padding, groups or 8-bit pixels)")
    n = op.in_features if isinstance(op, BinaryDense) else op.window_bits
    channels = op.out_features if isinstance(op, BinaryDense) else op.out_channels
    return Requantize(fold_table(n, channels, chain), chain[-1].frac)


def _chain_after(graph: Graph, node: Node) -> list[Node] | None:
    """The Scale/BatchNorm nodes that follow ``node`` one-to-one, ending in Sign or Quantize, or None."""
    chain, current = [], node
    while True:
        users = graph.consumers(current.name)
        if len(users) != 1 or current.name in graph.outputs:
            return None
        current = users[0]
        if isinstance(current.op, (Sign, Quantize)):
            return chain + [current]
        if not isinstance(current.op, _FOLDABLE):
            return None
        chain.append(current)


def _thresholded(op, in_type, chain):
    """``op`` (BinaryDense or BinaryConv2d) with the real-valued ``chain`` folded into thresholds."""
    if isinstance(op, BinaryDense):
        thresholds, flip = fold_thresholds(op.in_features, op.out_features, chain)
        weights = np.where(flip[:, None], 1 - op.weights, op.weights)
        return BinaryDense(weights, thresholds[0])
    _, corrections = op.border_classes(*in_type.shape[:2])
    thresholds, flip = fold_thresholds(op.window_bits, op.out_channels, chain, corrections,
                                       pixels=isinstance(op, PixelConv2d))
    weights = np.where(flip[:, None, None, None], 1 - op.weights, op.weights)
    return replace(op, weights=weights, thresholds=thresholds)


@checked_pass
def streamline(graph: Graph) -> Graph:
    """Fold every BinaryDense or BinaryConv2d -> [Scale] -> [BatchNorm] -> Sign chain into thresholds,
    and every such chain ending in Quantize into a Requantize after the layer's scores.

    Any real-valued op left afterwards cannot be built in hardware and raises
    :class:`UnsupportedModelError` naming it.
    """
    types = graph.types()
    rename: dict[str, str] = {}
    dropped: set[str] = set()
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.name in dropped:
            continue
        node = Node(node.name, node.op, tuple(rename.get(i, i) for i in node.inputs))
        if isinstance(node.op, FixedConv) and not node.op.sums:
            chain = _chain_after(graph, node)
            if not chain or not isinstance(chain[-1].op, Quantize):
                raise UnsupportedModelError(f"{node.name}: a FixedPointConv2d must be followed by [BatchNorm2d] and "
                                            f"FixedPoint, which bnn-hw folds into thresholds on its sums")
            conv, levels = fold_levels(node.op, types[node.inputs[0]], [n.op for n in chain])
            nodes.append(node.with_op(conv))
            dropped.update(n.name for n in chain)
            node = Node(chain[-1].name, levels, (node.name,))
        elif isinstance(node.op, (BinaryDense, BinaryConv2d)) and node.op.thresholds is None:
            chain = _chain_after(graph, node)
            if chain and isinstance(chain[-1].op, Quantize):
                in_type, ops = types[node.inputs[0]], [n.op for n in chain]
                nodes.append(node)
                dropped.update(n.name for n in chain)
                node = Node(chain[-1].name, _requantized(node.op, in_type, ops, chain[-1].name), (node.name,))
            elif chain:
                node = node.with_op(_thresholded(node.op, types[node.inputs[0]], [n.op for n in chain]))
                dropped.update(n.name for n in chain)
                rename[chain[-1].name] = node.name
        elif isinstance(node.op, (Scale, BatchNorm, Sign, Quantize)):
            what = {Scale: "a per-channel scale", BatchNorm: "BatchNorm", Sign: "Sign",
                    Quantize: "FixedPoint"}[type(node.op)]
            raise UnsupportedModelError(
                f"{node.name}: {what} here cannot be folded; bnn-hw folds [scale] [BatchNorm] and a Sign or "
                f"FixedPoint only directly after a BinaryLinear or BinaryConv2d, and the last BinaryLinear's "
                f"scores must be the output")
        nodes.append(node)
    outputs = tuple(rename.get(o, o) for o in graph.outputs)
    return Graph(graph.inputs, tuple(nodes), outputs)
