"""Threshold folding: the exact integer form of a real-valued chain after a layer's integer sums.

Each function evaluates the chain (per-channel scale, BatchNorm, and last a sign or a fixed-point
rounding) with the trained model's own float32 PyTorch operations on every integer the layer can
produce, and reads the thresholds or table off the result, so ties, negative and zero scales come
out as the model computes them:

- :func:`fold_thresholds`: a binary layer's popcount (or a pixel layer's sum) to bits, ``count >= T``
  per channel and slice (a negative scale flips the channel's weights);
- :func:`fold_score_thresholds`: a layer's integer scores (any range, such as a sparse binary layer's)
  to bits, ``score >= T`` per channel and slice, inverted for a channel whose activation falls;
- :func:`fold_table`: a binary layer's popcount to fixed-point integers, one table per channel;
- :func:`fold_levels`: a fixed-point 1x1 convolution's sums to fixed-point levels (a monotone step
  function, found by binary search and checked against the model's operations);
- :func:`fold_fixed_thresholds`: a fixed-point value's sign after a learned bias to one threshold
  per channel on its integers (found and checked the same way).
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from .ir import Kind
from .microarch import element_range

__all__ = ["fold_thresholds", "fold_score_thresholds", "fold_table", "fold_levels", "fold_fixed_thresholds"]

#: :func:`fold_levels` checks its thresholds on every sum of a domain up to this size (values times
#: channels), else on this many random sums and those next to every threshold.
_LEVEL_CHECKS = 1 << 22

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


#: :func:`fold_score_thresholds` evaluates the chain on this many scores (times channels) at a time.
_SCORE_BATCH = 1 << 22


def fold_score_thresholds(bound: int, channels: int, chain) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds for ``sign(chain(score))`` over every integer score ``-bound..bound``, per channel.

    ``chain`` is the real-valued ops (Scale, BatchNorm) and last the :class:`Sign` (K slices), run
    with the model's float32 operations. Returns ``(thresholds, invert)``, ``(channels, K)`` and
    ``(channels,)``: output bit ``j`` of channel ``c`` is ``(score >= thresholds[c, j]) != invert[c]``.
    A channel whose bits rise with the score has ``invert`` False and each threshold the first score
    giving 1 (``bound + 1``: never); one whose bits fall has ``invert`` True and each threshold the
    first score giving 0. A channel whose bits do not change one way is not a threshold: an error.
    """
    import torch

    *real, sign = chain
    first_one = first_zero = None
    rising = np.ones(channels, bool)
    falling = np.ones(channels, bool)
    previous = None
    step = max(1, _SCORE_BATCH // channels)
    for lo in range(-bound, bound + 1, step):
        scores = np.arange(lo, min(lo + step, bound + 1))
        with torch.no_grad():
            t = _through(real, np.repeat(scores[:, None], channels, axis=1))
            bits = sign.slice_bits(t).numpy()                      # (values, M, K)
        if first_one is None:
            first_one = np.full(bits.shape[1:], bound + 1, np.int64)
            first_zero = first_one.copy()
        joined = bits if previous is None else np.concatenate([previous[None], bits])
        steps = np.diff(joined.astype(np.int8), axis=0)
        rising &= (steps >= 0).all(axis=(0, 2))
        falling &= (steps <= 0).all(axis=(0, 2))
        for found, value in ((first_one, True), (first_zero, False)):
            hit = (bits == value).any(axis=0) & (found == bound + 1)
            found[hit] = scores[np.argmax(bits == value, axis=0)][hit]
        previous = bits[-1]
    if not (rising | falling).all():
        c = int(np.flatnonzero(~(rising | falling))[0])
        raise UnsupportedModelError(f"channel {c}: the activation is not monotonic in the layer's sum, "
                                    f"so it cannot be a threshold")
    invert = ~rising   # constant channels count as rising
    thresholds = np.where(invert[:, None], first_zero, first_one)
    return thresholds.astype(np.int64), invert


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


def fold_levels(weights: np.ndarray, frac: int, in_type, chain) -> tuple[np.ndarray, np.ndarray, int]:
    """Levels equal to ``chain`` (the real-valued ops, last the :class:`~.ops.Quantize`) applied to the
    real outputs ``S / 2**frac`` of a 1x1 convolution with integer ``weights`` (M, C) (or a pixel
    convolution's, its windows flattened: (M, N)): ``(sign, thresholds, base)``, the value of a sum
    ``S`` of the weights times ``sign`` (per channel) being ``base + sum_j (S >= thresholds[c, j])``.

    Per channel the sums lie in ``lo..hi`` (from the weights and the inputs' range: two's complement
    values of ``in_type``'s width, or 8-bit pixels ``0..255``). A channel whose
    values fall as ``S`` rises has its weights negated, so all rise; its thresholds are where each
    next value is first reached, by a binary search run on all channels and values at once with the
    model's float32 operations. The result is checked against those operations on every sum (or, for
    large domains, on random sums and those next to every threshold).
    """
    import torch

    *real, quantize = chain
    w = weights
    e_lo, e_hi = element_range(in_type.width, in_type.kind is not Kind.UINT8)
    lo, hi = np.minimum(w * e_lo, w * e_hi).sum(axis=1), np.maximum(w * e_lo, w * e_hi).sum(axis=1)

    def value(sums: np.ndarray, sign: np.ndarray) -> np.ndarray:
        """The model's integers ``k`` for sums (rows, channels) of the weights times ``sign``."""
        with torch.no_grad():
            t = _through(real, (sign * sums).astype(np.float64) * 2.0 ** -frac)
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
    thresholds = left.T.copy()
    _check_levels(thresholds, base, lambda sums: value(sums, sign), lo, hi, "the activation after the 1x1 convolution")
    return sign, thresholds, base


def fold_fixed_thresholds(lo: int, hi: int, channels: int, chain) -> np.ndarray:
    """Thresholds for ``sign(chain(k))`` on the fixed-point integers ``k = lo..hi``: per channel the
    smallest ``k`` whose bit is 1 (``hi + 1`` where there is none), found by a binary search on all
    channels at once with the model's float32 operations and checked as :func:`fold_levels` checks.

    ``chain`` is the real-valued ops (a :class:`~.ops.Bias` on the fixed-point value) and last a
    one-slice :class:`~.ops.Sign`.
    """
    import torch

    *real, sign = chain

    def value(ks: np.ndarray) -> np.ndarray:
        """The model's bits (rows, channels) for the integers ``ks``."""
        with torch.no_grad():
            return sign.slice_bits(_through(real, ks))[..., 0].numpy().astype(np.int64)

    left, right = np.full(channels, lo, np.int64), np.full(channels, hi + 1, np.int64)
    while (left < right).any():
        mid = (left + right) // 2
        one = value(np.minimum(mid, hi)[None])[0] == 1
        right, left = np.where(one & (left < right), mid, right), np.where(~one & (left < right), mid + 1, left)
    bounds = np.full(channels, lo, np.int64), np.full(channels, hi, np.int64)
    _check_levels(left[:, None], 0, value, *bounds, "the sign after the bias")
    return left


def _check_levels(thresholds: np.ndarray, base: int, value, lo: np.ndarray, hi: np.ndarray, what: str) -> None:
    """Raise if the levels ``base + sum_j (S >= thresholds[c, j])`` differ from ``value`` on the sums
    ``lo..hi`` per channel (all of them, or a sample and the neighbours of every threshold)."""
    span = int((hi - lo).max()) + 1
    if span * len(lo) <= _LEVEL_CHECKS:
        sums = lo + np.arange(span)[:, None]
    else:
        rng = np.random.default_rng(0)
        edges = thresholds.T
        sums = np.concatenate([lo + (rng.random((_LEVEL_CHECKS // len(lo), 1)) * (hi - lo + 1)).astype(np.int64),
                               edges - 1, edges])
    sums = np.clip(sums, lo, hi)
    wrong = base + (sums[..., None] >= thresholds).sum(axis=-1) != value(sums)
    if wrong.any():
        c = int(np.flatnonzero(wrong.any(axis=0))[0])
        raise UnsupportedModelError(f"channel {c}: {what} is not monotonic in its input, so it cannot be "
                                    f"thresholds")


def _through(real, dots: np.ndarray):
    """The float32 torch tensor of the real-valued ops ``real`` (Scale, BatchNorm) applied in turn
    to the integer dot products ``dots`` (rows, channels), as the trained model computes them."""
    import torch

    t = torch.as_tensor(dots.astype(np.float32))
    for op in real:
        t = op.torch_forward(t)
    return t
