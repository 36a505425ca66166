"""BinaryDense: a binary fully connected layer on bit vectors (XNOR-popcount).

Semantics, for input bits ``x`` (N) and weight bits ``w`` (M x N), with ``p = popcount(xnor(x, w[m]))``:

- without thresholds the output is the exact integer score ``dot = 2 * p - N`` per channel;
- with thresholds ``T`` (M x K, sorted per row) output bit ``m * K + j`` is ``p >= T[m, j]``.

Streamlining turns BatchNorm + sign into thresholds; a negative BN scale is absorbed by flipping that
channel's weights (``popcount(xnor(x, ~w)) = N - p``), so hardware only ever compares ``>=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ... import nn as bnn
from ...errors import UnsupportedModelError
from ..cost import BlockRam, Cost
from ..ir import Kind, Node, TensorType
from ..microarch import POPCOUNT_CHUNK, SUM_GROUP, rom_bank_depth, unrolled_cost
from ._arrays import frozen_array, pack_bits
from ..thresholds import fold_thresholds
from ._matrix import MatrixStream
from .base import Chain, ceil_div, lowers
from .fixed_point import requantize

__all__ = ["BinaryDense", "DenseStream", "dense_cost", "scaled", "streamed_columns"]


class DenseStream(MatrixStream, abstract=True):
    """A fully connected layer's stage on an (M, N) bit :attr:`matrix` of weights, with
    :attr:`thresholds` (M, K) or integer scores of :attr:`score_width` bits: its geometry, folding,
    words and traffic, as a matrix-vector unit or, at its full lanes, unrolled. A subclass says what
    each unrolled channel counts (:meth:`unrolled_counts`)."""

    unrolls = True
    thresholds: np.ndarray | None

    @property
    def matrix(self) -> np.ndarray:
        """The (M, N) bits the unit stores as its weights."""
        raise NotImplementedError

    @property
    def score_width(self) -> int:
        raise NotImplementedError

    def unrolled_counts(self) -> tuple[list[int], bool]:
        """The bits each channel counts unrolled, and whether all inputs are counted once besides."""
        raise NotImplementedError

    @property
    def in_features(self) -> int:
        return self.matrix.shape[1]

    @property
    def out_features(self) -> int:
        return self.matrix.shape[0]

    @property
    def slices(self) -> int:
        """Output bits per channel (K thresholds), 0 for integer scores."""
        return 0 if self.thresholds is None else self.thresholds.shape[1]

    def lanes(self, in_type) -> tuple[int, int]:
        """The most useful ``(pe, simd)``: one lane per output channel and per input bit (unrolled)."""
        return self.out_features, self.in_features

    @property
    def weight_count(self) -> int:
        return self.matrix.size

    def cycles(self, in_type, fold) -> int:
        return ceil_div(self.out_features, fold.pe) * ceil_div(self.in_features, fold.simd)

    def latency(self, in_type, fold) -> int:
        if self.is_unrolled(in_type, fold):
            return self.unrolled_estimate().latency
        return self.cycles(in_type, fold)

    def memory_depth(self, in_type, fold) -> int:
        """Words of the unit's weight ROM: ``NF * SF`` (none unrolled)."""
        return 0 if self.is_unrolled(in_type, fold) else self.cycles(in_type, fold)

    def unrolled_shared_terms(self) -> dict:
        """What the unrolled unit makes of the count of all inputs, as keyword arguments of
        :func:`~bnn_hw.compiler.microarch.unrolled_cost` (none here)."""
        return {}

    def unrolled_estimate(self):
        """The :func:`~bnn_hw.compiler.microarch.unrolled_cost` of the unrolled unit."""
        counts, shared = self.unrolled_counts()
        return unrolled_cost(self.in_features, counts, shared, self.slices, self.score_width,
                             **self.unrolled_shared_terms())

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """Bits of the hardware's input and output words: ``simd`` bits in, ``pe`` channels out."""
        per_channel = self.slices if self.thresholds is not None else self.score_width
        return fold.simd, fold.pe * per_channel

    def traffic(self, in_type, fold):
        from ..energy import matrix_traffic, unrolled_traffic
        if self.is_unrolled(in_type, fold):
            counts, shared = self.unrolled_counts()
            return unrolled_traffic(self.out_features, self.in_features, sum(counts), self.slices, shared)
        return matrix_traffic(1, self.out_features, self.in_features, self.slices, fold)


@dataclass(frozen=True, eq=False)
class BinaryDense(DenseStream):
    weights: np.ndarray                 #: (M, N) uint8 bits, 1 = +1
    thresholds: np.ndarray | None = None  #: (M, K) int64, sorted per row, or None for integer scores

    def __post_init__(self):
        w = np.asarray(self.weights)
        if w.ndim != 2 or w.size == 0 or not np.isin(w, (0, 1)).all():
            raise ValueError("BinaryDense weights must be a non-empty (M, N) array of 0/1 bits")
        object.__setattr__(self, "weights", frozen_array(w, np.uint8))
        if self.thresholds is not None:
            t = np.asarray(self.thresholds)
            if t.ndim != 2 or t.shape[0] != w.shape[0] or t.shape[1] < 1:
                raise ValueError(f"thresholds must have shape ({w.shape[0]}, K), not {t.shape}")
            if (np.diff(t, axis=1) < 0).any():
                raise ValueError("thresholds must be sorted along each row")
            object.__setattr__(self, "thresholds", frozen_array(t, np.int64))

    @property
    def matrix(self) -> np.ndarray:
        return self.weights

    @property
    def score_width(self) -> int:
        """Signed width holding every score ``-N..N``."""
        return self.in_features.bit_length() + 1

    def __repr__(self):
        what = f"thresholds x{self.slices}" if self.thresholds is not None else "scores"
        return f"BinaryDense({self.out_features}x{self.in_features}, {what})"

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
    def _packed_weights(self) -> np.ndarray:
        return pack_bits(self.weights)

    def popcounts(self, x: np.ndarray) -> np.ndarray:
        """``popcount(xnor(x, w[m]))`` for a batch of bit vectors ``x`` (B, N) -> (B, M) int32.

        Works on 64-bit words in batch chunks whose temporaries stay cache-sized; padding bits are
        zero in both operands, so they never differ and ``p = N - popcount(x ^ w)``.
        """
        xp, wp = pack_bits(x), self._packed_weights
        batch = len(xp)
        out = np.empty((batch, self.out_features), np.int32)
        step = max(1, min(batch, (1 << 15) // wp.size))  # about 256 KiB of 64-bit words per chunk
        diff = np.empty((step,) + wp.shape, np.uint64)
        counts = np.empty((step,) + wp.shape, np.uint8)
        for b in range(0, batch, step):
            n = min(step, batch - b)
            np.bitwise_xor(xp[b:b + n, None, :], wp[None], out=diff[:n])
            np.bitwise_count(diff[:n], out=counts[:n])
            np.sum(counts[:n], axis=-1, dtype=np.int32, out=out[b:b + n])
        return self.in_features - out

    def reference(self, x: np.ndarray) -> np.ndarray:
        p = self.popcounts(x.reshape(len(x), -1))  # images flatten channels-last
        if self.thresholds is None:
            return 2 * p - self.in_features
        bits = p[:, :, None] >= self.thresholds[None, :, :]
        return bits.reshape(len(x), -1).astype(np.uint8)

    def fold_chain(self, in_type, chain, name):
        """Thresholds on the popcount (a sign ends the chain; a channel whose sign falls has its
        weights flipped), or the layer's scores and a :class:`~.fixed_point.Requantize` table."""
        if self.thresholds is not None or not chain:
            return None
        if chain[-1].chain is Chain.FIXED:
            return self, requantize(self.in_features, self.out_features, chain)
        thresholds, flip = fold_thresholds(self.in_features, self.out_features, chain)
        return BinaryDense(np.where(flip[:, None], 1 - self.weights, self.weights), thresholds[0]), None

    # -- hardware -------------------------------------------------------------------------------

    def unrolled_counts(self) -> tuple[list[int], bool]:
        """Unrolled, each channel counts all its inputs (as they are or inverted)."""
        return [self.in_features] * self.out_features, False

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        if self.is_unrolled(in_type, fold):
            return self.unrolled_estimate().cost(2 * self.weights.size, self.weights.size)
        return dense_cost(self.out_features, self.in_features, self.slices, fold, block_ram)


def dense_cost(out_features: int, in_features: int, slices: int, fold, block_ram: BlockRam, *,
               weight_sets: int = 1, threshold_sets: int = 1) -> Cost:
    """Estimated cost of a :class:`~bnn_hw.hdl.MatrixVectorUnit` computing one vector (``slices``
    thresholds per channel, 0 for scores) with ``weight_sets`` weight matrices and ``threshold_sets``
    threshold tables in its ROMs, its memories counted in ``block_ram`` blocks."""
    pe, simd = fold.pe, fold.simd
    sf, nf = ceil_div(in_features, simd), ceil_div(out_features, pe)
    acc = (in_features + 1).bit_length()
    k = slices
    score_width = in_features.bit_length() + 1
    weight_bits = weight_sets * out_features * in_features + threshold_sets * out_features * k * acc
    chunks = [min(POPCOUNT_CHUNK, simd - lo) for lo in range(0, simd, POPCOUNT_CHUNK)]
    group_sums = ceil_div(len(chunks), SUM_GROUP) if len(chunks) > SUM_GROUP else 0
    out_bits = pe * (k if k else score_width)
    # weight ROM (in banks of rom_bank_depth words, each registered, when deeper), double-buffered
    # input word, threshold ROM: in block RAM or LUT RAM
    rom_words, bank_depth = weight_sets * sf * nf, rom_bank_depth(pe * simd)
    banks = ceil_div(rom_words, bank_depth)
    weight_roms = block_ram.place_banks(pe * simd, rom_words, bank_depth)
    memories = block_ram.place(simd, 2 * sf) + weight_roms
    bank_registers = (banks * pe * simd + simd) if banks > 1 else 0
    if k:
        memories = memories + block_ram.place_rom(pe * k * acc, threshold_sets * nf)
    return Cost(
        cycles=sf * nf,
        # Fitted to yosys synth_ecp5 of the shipped examples' units (benchmarks/cost_model.py):
        # the XNOR-popcount compressor tree (2.34 LUT4 per bit, benchmarks/popcount_luts.py), per
        # lane the slice sums, accumulator and comparators (5.7 per accumulator bit), the input
        # word's multiplexing (1.8 per bit), counters and the output FIFO (75), LUT-RAM memories.
        lut4=round(2.34 * pe * simd + 5.7 * pe * acc + 1.8 * simd + 75) + memories.lut4
             + (banks - 1) * pe * simd // 2,   # the bank multiplexer
        # registered memory outputs (input word three times, weight word twice, and a weight ROM
        # built from logic reads into registers of its own, thresholds), popcount slices, lane
        # popcount, accumulator, output word, counters and pipeline flags
        ff=3 * simd + 2 * pe * simd + weight_roms.ff + pe * k * acc + pe * sum(n.bit_length() for n in chunks)
           + pe * group_sums * (SUM_GROUP * POPCOUNT_CHUNK).bit_length()
           + pe * simd.bit_length() + pe * acc + out_bits + bank_registers + 64,
        ebr=memories.ebr,
        weight_bits=weight_bits,
        buffer_bits=2 * sf * simd,
        binary_ops=2 * out_features * in_features,
    )


def scaled(node: Node, layer) -> list[Node]:
    """``node`` of a binary layer, followed by its per-channel :class:`~.real.Scale` if it has one."""
    from .real import Scale
    scale = layer.output_scale()
    if scale is None:
        return [node]
    return [node, Node(f"{node.name}_scale", Scale(scale.detach().cpu().numpy()), (node.name,))]


def streamed_columns(weights: np.ndarray, ctx, layer: str) -> np.ndarray:
    """A dense ``layer``'s weights (out, in) with columns in the channels-last order in which its input
    streams (torch flattens an image (channels, height, width), the hardware (height, width, channels))."""
    in_type = ctx.in_type
    if len(in_type.shape) == 1:
        return weights
    if not ctx.flattened:
        raise UnsupportedModelError(f"a {layer} after an image needs a Flatten before it")
    h, w, c = in_type.shape
    if weights.shape[1] != h * w * c:
        return weights  # the size check names the problem
    return weights.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(len(weights), -1)


def _dense_weights(layer, ctx) -> np.ndarray:
    """The layer's weight bits, columns in the order in which its input streams."""
    return streamed_columns((layer.weight.detach().cpu().numpy() >= 0).astype(np.uint8), ctx, "BinaryLinear")


@lowers(bnn.BinaryLinear)
def _lower(layer, ctx):
    return scaled(ctx.node("dense", BinaryDense(_dense_weights(layer, ctx))), layer)
