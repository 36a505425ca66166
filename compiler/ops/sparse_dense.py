"""SparseDense: a fully connected layer with weights in a two-value domain ``{alpha, beta}`` on bits.

Semantics, for input bits ``x`` (N, bit 1 is +1) and a mask ``b`` (M x N, 1 where the weight is
``beta``, 0 where it is ``alpha``; ``alpha``, ``beta`` integers), with ``p0 = popcount(x)`` (shared by
every channel), ``p1[m] = popcount(x AND b[m])`` and ``K[m] = popcount(b[m])``:

- without thresholds the output is the exact integer score per channel,
  ``score = alpha * (2 p0 - N) + (beta - alpha) * (2 p1 - K)``, the sum of the +-1 inputs times
  their weights;
- with thresholds ``T`` (M x K') and ``invert`` (M), output bit ``m * K' + j`` is
  ``(score[m] >= T[m, j]) != invert[m]``.

Only each channel's K beta positions need a count of their own, so the hardware's cost follows the
number of connections (beta weights), not the matrix. The lowering puts the rarer of the two values
on the mask. The real-valued layer computes ``score * unit`` (its grid step times the common factor
of its two values); that factor stays a :class:`~.real.Scale` in the chain that streamlining folds
into thresholds, so they are read off the model's own float32 operations. ``alpha = -1, beta = +1``
is an ordinary binary layer; ``alpha = 0`` a pruned one.

The hardware (unrolled and folded alike) computes ``L = a * p0 + d * p1`` with ``a = alpha / g``,
``d = (beta - alpha) / g`` and ``g`` their greatest common divisor: ``score = 2 g L - c[m]`` with
``c[m] = alpha * N + (beta - alpha) * K[m]``, so ``score >= T`` is ``L >= ceil((T + c[m]) / (2 g))``
(:meth:`SparseDense.hardware_form`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from ... import nn as bnn
from ...errors import UnsupportedModelError
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ..microarch import naf
from ..quotient_thresholds import quotient_thresholds
from ..thresholds import fold_score_thresholds
from ._arrays import frozen_array, pack_bits
from .base import Chain, Fold, lowers
from .binary_dense import DenseStream, _dense_weights, dense_cost

__all__ = ["SparseDense", "SparseForm", "sparse_domain", "with_unit"]


class SparseForm(NamedTuple):
    """What the hardware computes per channel: ``L = a * p0 + d * p1``, then output bits
    ``(L >= thresholds[m, j]) != invert[m]``, or scores ``scale * L - offsets[m]``."""

    a: int
    d: int
    thresholds: np.ndarray | None   #: (M, K) on ``L``
    invert: np.ndarray              #: (M,) bool
    scale: int
    offsets: np.ndarray             #: (M,) int64

    def value_range(self, n_inputs: int, counted: int) -> tuple[int, int]:
        """The smallest and largest ``L`` of a channel with ``counted`` mask bits (``0 <= p1 <= counted``
        and ``p1 <= p0 <= p1 + n_inputs - counted``): a linear function's extremes at the corners."""
        corners = [(0, 0), (n_inputs - counted, 0), (counted, counted), (n_inputs, counted)]
        values = [self.a * p0 + self.d * p1 for p0, p1 in corners]
        return min(values), max(values)


@dataclass(frozen=True, eq=False)
class SparseDense(DenseStream):
    mask: np.ndarray                       #: (M, N) uint8, 1 where the weight is ``beta``
    alpha: int
    beta: int
    thresholds: np.ndarray | None = None   #: (M, K) int64 on the score, or None for scores
    invert: np.ndarray | None = None       #: (M,) bool with thresholds: the channel's bits inverted

    layer_name = "SparseBinaryLinear"

    def __post_init__(self):
        b = np.asarray(self.mask)
        if b.ndim != 2 or b.size == 0 or not np.isin(b, (0, 1)).all():
            raise ValueError("SparseDense mask must be a non-empty (M, N) array of 0/1 bits")
        object.__setattr__(self, "mask", frozen_array(b, np.uint8))
        if not all(isinstance(v, (int, np.integer)) for v in (self.alpha, self.beta)):
            raise ValueError(f"alpha and beta must be integers, not {self.alpha!r} and {self.beta!r}")
        object.__setattr__(self, "alpha", int(self.alpha))
        object.__setattr__(self, "beta", int(self.beta))
        if self.alpha == self.beta:
            raise ValueError(f"alpha equals beta ({self.alpha}): the weights carry no information")
        if self.thresholds is None:
            if self.invert is not None:
                raise ValueError("invert needs thresholds")
            return
        t = np.asarray(self.thresholds)
        if t.ndim != 2 or t.shape[0] != b.shape[0] or t.shape[1] < 1:
            raise ValueError(f"thresholds must have shape ({b.shape[0]}, K), not {t.shape}")
        object.__setattr__(self, "thresholds", frozen_array(t, np.int64))
        invert = np.zeros(b.shape[0], bool) if self.invert is None else np.asarray(self.invert)
        if invert.shape != (b.shape[0],):
            raise ValueError(f"invert must have shape ({b.shape[0]},), not {invert.shape}")
        object.__setattr__(self, "invert", frozen_array(invert, bool))

    @property
    def matrix(self) -> np.ndarray:
        return self.mask

    @cached_property
    def counted(self) -> np.ndarray:
        """``K[m]``: the mask bits (beta weights) of each channel."""
        return self.mask.sum(axis=1).astype(np.int64)

    @property
    def connections(self) -> int:
        """The beta weights of the whole layer (synapses kept, where ``alpha = 0``)."""
        return int(self.counted.sum())

    @property
    def score_bound(self) -> int:
        """The largest magnitude a score can take: the largest sum of a channel's weights' magnitudes."""
        n = self.in_features
        return int((abs(self.alpha) * (n - self.counted) + abs(self.beta) * self.counted).max())

    @property
    def score_width(self) -> int:
        """Signed width holding every score."""
        return self.score_bound.bit_length() + 1

    def __repr__(self):
        what = f"thresholds x{self.slices}" if self.thresholds is not None else "scores"
        return (f"SparseDense({self.out_features}x{self.in_features}, alpha={self.alpha}, beta={self.beta}, "
                f"{self.connections} beta weights, {what})")

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.BITS:
            raise ValueError(f"takes binary inputs, got {x}")
        if x.size != self.in_features:
            raise ValueError(f"expects {self.in_features} inputs, got {x.size}")
        if self.thresholds is None:
            return TensorType((self.out_features,), Kind.INT, self.score_width)
        return TensorType((self.out_features * self.slices,), Kind.BITS)

    @cached_property
    def _packed_mask(self) -> np.ndarray:
        return pack_bits(self.mask)

    def popcounts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(p0, p1)`` for a batch of bit vectors ``x`` (B, N): ``popcount(x)`` (B,) and
        ``popcount(x AND b[m])`` (B, M), int64."""
        xp, bp = pack_bits(x), self._packed_mask
        p0 = np.bitwise_count(xp).sum(axis=-1, dtype=np.int64)
        p1 = np.empty((len(xp), self.out_features), np.int64)
        step = max(1, (1 << 15) // bp.size)
        for b in range(0, len(xp), step):
            p1[b:b + step] = np.bitwise_count(xp[b:b + step, None, :] & bp[None]).sum(axis=-1, dtype=np.int64)
        return p0, p1

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The integer scores ``alpha (2 p0 - N) + (beta - alpha) (2 p1 - K)`` (B, M)."""
        p0, p1 = self.popcounts(x.reshape(len(x), -1))
        return (self.alpha * (2 * p0 - self.in_features))[:, None] + (self.beta - self.alpha) * (2 * p1 - self.counted)

    def reference(self, x: np.ndarray) -> np.ndarray:
        s = self.scores(x)
        if self.thresholds is None:
            return s
        bits = (s[:, :, None] >= self.thresholds[None]) != self.invert[None, :, None]
        return bits.reshape(len(x), -1).astype(np.uint8)

    def fold_chain(self, in_type, chain, name):
        """Thresholds on the score (a sign ends the chain), read off the chain's float32 operations on
        every score the layer can produce; a channel whose sign falls as the score rises is inverted."""
        if self.thresholds is not None or not chain:
            return None
        if chain[-1].chain is Chain.FIXED:
            raise UnsupportedModelError(f"{name}: a SparseBinaryLinear must be followed by a sign (BatchNorm and "
                                        f"Sign), not a fixed-point rounding")
        thresholds, invert = fold_score_thresholds(self.score_bound, self.out_features, chain)
        return SparseDense(self.mask, self.alpha, self.beta, thresholds, invert), None

    def hardware_form(self) -> SparseForm:
        """The per-channel integer form the hardware computes (module docstring): thresholds and
        scores on ``L = a * p0 + d * p1``."""
        diff = self.beta - self.alpha
        g = math.gcd(self.alpha, diff)
        offsets = self.alpha * self.in_features + diff * self.counted
        thresholds = None
        if self.thresholds is not None:
            t = np.clip(self.thresholds, -self.score_bound - 1, self.score_bound + 1)
            thresholds = -((-(t + offsets[:, None])) // (2 * g))   # ceil((T + c) / 2g)
        invert = np.zeros(self.out_features, bool) if self.invert is None else self.invert
        return SparseForm(self.alpha // g, diff // g, thresholds, invert, 2 * g, offsets)

    # -- hardware -------------------------------------------------------------------------------

    def unrolled_counts(self) -> tuple[list[int], bool]:
        """Unrolled, each channel counts its beta positions, beside one count of all inputs (except
        where ``alpha`` is 0 and the channels compare their own counts with thresholds)."""
        return self.counted.tolist(), self.thresholds is None or self.alpha != 0

    def unrolled_shared_terms(self) -> dict:
        """With thresholds, the quotients of the shared count the unrolled unit forms (one per distinct
        remainder, :mod:`~bnn_hw.compiler.quotient_thresholds`; 0 where alpha is 0); with scores, the
        non-zero digits of ``d`` (its product is that many shifted terms)."""
        form = self.hardware_form()
        if self.thresholds is None:
            return {"scale_digits": len(naf(abs(form.d)))}
        plan = quotient_thresholds(form.a, form.d, form.thresholds, self.in_features)
        return {"quotients": 0 if plan.constant_shared else len(plan.distinct_remainders)}

    def _folds(self, in_type, lanes: int | None = None):
        """Scores are built unrolled only (the folded unit thresholds), so they fold to full lanes."""
        if self.thresholds is None:
            return {Fold(*self.lanes(in_type))}
        return super()._folds(in_type, lanes)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        ops = 2 * self.connections + self.in_features
        if self.thresholds is None and not self.is_unrolled(in_type, fold):
            raise UnsupportedModelError(f"a SparseBinaryLinear giving scores ({self!r}) is built unrolled only, not "
                                        f"folded {fold}: fold it to its full lanes (--folding NAME=unrolled)")
        if self.is_unrolled(in_type, fold):
            return self.unrolled_estimate().cost(ops, weight_bits=self.mask.size)
        dense = dense_cost(self.out_features, self.in_features, self.slices, fold, block_ram)
        # the shared popcount of each input word, and its accumulator
        shared = round(2.34 * fold.simd) + (self.in_features + 1).bit_length()
        return dense + Cost(lut4=shared, ff=shared // 2, binary_ops=ops - dense.binary_ops)

    def details(self) -> dict:
        """The two values, the synapses kept (weights of the counted value, the rarer one), the
        sparsity (the fraction of the other) and the weight bits (the mask)."""
        return {"sparse": {"alpha": self.alpha, "beta": self.beta, "synapses_kept": self.connections,
                           "sparsity": round(1 - self.connections / self.mask.size, 4),
                           "weight_bits": self.mask.size}}


def sparse_domain(layer, mask: np.ndarray, error) -> tuple[np.ndarray, int, int, float]:
    """A sparse layer's ``(mask, alpha, beta, unit)``: its two values as integers over their common
    factor, the rarer of them on the mask (``mask`` its beta bits, flipped if beta is the commoner),
    and ``unit`` that factor times the grid step (the real value of a score of 1). ``error(message)``
    makes the exception for a layer whose two values are equal."""
    tau, phi = (round(float(v.detach()) * 2 ** layer.frac_bits) for v in layer.domain())
    alpha, beta = phi - tau, phi + tau
    if alpha == beta:
        raise error("alpha equals beta (tau rounds to 0 on the grid): its weights carry no information")
    common = math.gcd(alpha, beta)
    alpha, beta = alpha // common, beta // common
    if 2 * int(mask.sum()) > mask.size:   # count the rarer value
        mask, alpha, beta = 1 - mask, beta, alpha
    return mask, alpha, beta, common / 2 ** layer.frac_bits


def with_unit(kind: str, op, unit: float, channels: int, ctx) -> list:
    """The node of ``op`` (named ``kind``), followed by the :class:`~.real.Scale` of its scores' real
    ``unit`` unless it is 1."""
    from .real import Scale
    node = ctx.node(kind, op)
    if unit == 1:
        return [node]
    return [node, ctx.node(f"{kind}_unit", Scale(np.full(channels, unit, np.float32)), (node.name,))]


@lowers(bnn.SparseBinaryLinear)
def _lower(layer, ctx):
    """The beta mask (columns in streaming order, as a BinaryLinear's weights) and the two values."""
    mask, alpha, beta, unit = sparse_domain(layer, _dense_weights(layer, ctx), ctx.error)
    return with_unit("dense", SparseDense(mask, alpha, beta), unit, layer.out_features, ctx)
