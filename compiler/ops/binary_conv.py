"""BinaryConv2d: a binary 2-D convolution on channels-last bit images (XNOR-popcount per window).

Semantics, for an input image ``x`` of shape (H, W, C) bits and weight bits ``w`` (M, kh, kw, C/groups):
each output pixel's window (kh x kw pixels at stride ``stride`` over the image padded by ``padding``
pixels) is flattened in (ky, kx, c) order, restricted to the channels of each output channel's group,
and treated as a :class:`~.binary_dense.BinaryDense` input. Border positions hold the pad bit:
``pad_value`` -1 is bit 0, +1 is bit 1. With ``pad_value`` 0 (true zero padding) they are stored as
bit 0 and every output is corrected exactly: the zero-padded dot product is
``2 * p - N + S`` where ``p`` counts the XNOR matches over all ``N`` window bits (padding included) and
``S`` is the sum of the channel's +-1 weights over the window taps that fall into the padding.

With ``replicate``
the border positions hold the nearest edge pixel instead (``pad_value`` unused), so every output is a
plain binary dot product.

``S`` depends only on which taps are padding: output positions with the same padded taps form a
*border class*. The output is either the integer dot product (before streamlining) or, with
``thresholds`` of shape (classes, M, K), bit ``m * K + j`` = ``p >= thresholds[class, m, j]`` where
``class`` is the position's border class (one class unless the padding is zero).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..cost import BlockRam, Cost, gearbox_cost, window_cost
from ... import nn as bnn
from ...errors import UnsupportedModelError
from ..ir import Kind, TensorType
from ..microarch import pixels_accepted, pixels_needed
from ..thresholds import fold_thresholds
from ._arrays import frozen_array
from ._matrix import MatrixStream
from .base import Chain, ceil_div, lowers
from .binary_dense import BinaryDense, dense_cost, scaled
from .fixed_point import requantize

__all__ = ["BinaryConv2d", "conv_output_size", "conv_weights"]


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one axis (0 if the kernel does not fit)."""
    return max(0, (size + 2 * padding - kernel) // stride + 1)


@dataclass(frozen=True, eq=False)
class BinaryConv2d(MatrixStream):
    weights: np.ndarray                 #: (M, kh, kw, C / groups) uint8 bits, 1 = +1
    stride: int = 1
    padding: int = 0
    pad_value: int = -1                 #: -1, +1 (binary pad bits) or 0 (zero padding, corrected)
    groups: int = 1
    thresholds: np.ndarray | None = None  #: (classes, M, K) int64 sorted along K, or None for scores
    replicate: bool = False             #: the border repeats the edge pixels (pad_value unused)

    #: Each channel's thresholds rise along K (a sparse convolution's inverted channels' do not).
    ordered_thresholds: ClassVar[bool] = True

    #: Bits of each weight: 1, the +-1 weights stored as bits (a multi-bit op says more).
    weight_bits: ClassVar[int] = 1

    def __post_init__(self):
        w = self._checked_weights(np.asarray(self.weights))
        if w.shape[0] % self.groups:
            raise ValueError(f"groups={self.groups} must divide the {w.shape[0]} output channels")
        if self.pad_value not in (-1, 0, 1) or self.stride < 1 or self.padding < 0 or self.groups < 1:
            raise ValueError("bad stride, padding, pad_value or groups")
        if self.replicate and self.padding >= w.shape[1]:
            raise ValueError(f"replicate padding needs padding < kernel, not {self.padding} with a "
                             f"{w.shape[1]}x{w.shape[1]} kernel")
        object.__setattr__(self, "weights", w)
        if self.thresholds is not None:
            t = np.asarray(self.thresholds)
            if t.ndim != 3 or t.shape[1] != w.shape[0] or t.shape[2] < 1 or t.shape[0] < 1:
                raise ValueError(f"thresholds must have shape (classes, {w.shape[0]}, K), not {t.shape}")
            if self.ordered_thresholds and (np.diff(t, axis=2) < 0).any():
                raise ValueError("thresholds must be sorted along K")
            object.__setattr__(self, "thresholds", frozen_array(t, np.int64))

    def _checked_weights(self, w: np.ndarray) -> np.ndarray:
        """The weights as the op keeps them, or :class:`ValueError`: (M, k, k, C/groups) bits."""
        if w.ndim != 4 or w.size == 0 or w.shape[1] != w.shape[2] or not np.isin(w, (0, 1)).all():
            raise ValueError("BinaryConv2d weights must be a non-empty (M, k, k, C/groups) array of 0/1 bits")
        return frozen_array(w, np.uint8)

    # -- geometry -------------------------------------------------------------------------------

    @property
    def kernel(self) -> int:
        return self.weights.shape[1]

    @property
    def out_channels(self) -> int:
        return self.weights.shape[0]

    @property
    def group_channels(self) -> int:
        """Input channels each output channel sees."""
        return self.weights.shape[3]

    @property
    def window_bits(self) -> int:
        """N: bits of one output channel's window (kernel x kernel x channels of its group)."""
        return self.kernel * self.kernel * self.group_channels

    @property
    def score_width(self) -> int:
        """Signed width holding every score ``-N..N`` (before thresholds)."""
        return self.window_bits.bit_length() + 1

    @property
    def slices(self) -> int:
        return 0 if self.thresholds is None else self.thresholds.shape[2]

    @property
    def pad_bit(self) -> int:
        """The bit the border positions hold (zero padding is stored as bit 0 and corrected)."""
        return 1 if self.pad_value == 1 else 0

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        k, s, p = self.kernel, self.stride, self.padding
        return conv_output_size(height, k, s, p), conv_output_size(width, k, s, p)

    def __repr__(self):
        what = f"thresholds x{self.slices}" if self.thresholds is not None else "scores"
        border = "replicate" if self.replicate else f"of {self.pad_value:+d}"
        pad = f", pad {self.padding} {border}" if self.padding else ""
        groups = f", groups {self.groups}" if self.groups > 1 else ""
        return (f"BinaryConv2d({self.out_channels}x{self.kernel}x{self.kernel}x{self.group_channels}, "
                f"stride {self.stride}{pad}{groups}, {what})")

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.BITS or len(x.shape) != 3:
            raise ValueError(f"takes a binary image (height, width, channels), got {x}")
        h, w, c = x.shape
        if c != self.group_channels * self.groups:
            raise ValueError(f"expects {self.group_channels * self.groups} input channels, got {c}")
        ho, wo = self.output_shape(h, w)
        if not ho or not wo:
            raise ValueError(f"a {self.kernel}x{self.kernel} kernel with padding {self.padding} does not fit "
                             f"a {h}x{w} image")
        if self.thresholds is not None:
            if self.thresholds.shape[0] != self.border_classes(h, w)[1].shape[0]:
                raise ValueError(f"thresholds do not match the border classes of a {h}x{w} image")
            return TensorType((ho, wo, self.out_channels * self.slices), Kind.BITS)
        return TensorType((ho, wo, self.out_channels), Kind.INT, self.score_width)

    # -- semantics ------------------------------------------------------------------------------

    @cached_property
    def _group_dense(self) -> tuple[BinaryDense, ...]:
        """Each group as a BinaryDense on its flattened (ky, kx, c) windows."""
        per = self.out_channels // self.groups
        flat = self.weights.reshape(self.out_channels, -1)
        return tuple(BinaryDense(flat[g * per:(g + 1) * per]) for g in range(self.groups))

    def windows(self, x: np.ndarray) -> np.ndarray:
        """The windows of a batch of bit images (B, H, W, C) -> (B, Ho, Wo, kh, kw, C), padded."""
        k, s, p = self.kernel, self.stride, self.padding
        if p:
            edges = ((0, 0), (p, p), (p, p), (0, 0))
            x = np.pad(x, edges, mode="edge") if self.replicate else np.pad(x, edges, constant_values=self.pad_bit)
        view = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]  # (B, Ho, Wo, C, kh, kw)
        return view.transpose(0, 1, 2, 4, 5, 3)

    def border_classes(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(class_of, corrections)``: each output position's border class (Ho, Wo) and the exact
        zero-padding correction ``S`` (classes, M) to add to ``2 * p - N``.

        One class with no correction unless the padding is zero and reaches some window.
        """
        ho, wo = self.output_shape(height, width)
        if self.pad_value != 0 or not self.padding or self.replicate:
            return np.zeros((ho, wo), np.int64), np.zeros((1, self.out_channels), np.int64)
        inside = np.ones((1, height, width, 1), np.uint8)
        padded_taps = 1 - self.windows(inside)[0, :, :, :, :, 0]  # (Ho, Wo, kh, kw): 1 = padding
        patterns, class_of = np.unique(padded_taps.reshape(ho * wo, -1), axis=0, return_inverse=True)
        signed = 2 * self.weights.astype(np.int64) - 1                 # (M, kh, kw, Cg) as +-1
        tap_sums = signed.sum(axis=3).reshape(self.out_channels, -1)   # (M, kh * kw)
        return class_of.reshape(ho, wo), patterns.astype(np.int64) @ tap_sums.T

    def popcounts(self, x: np.ndarray) -> np.ndarray:
        """XNOR matches per output channel over each padded window: (B, H, W, C) -> (B, Ho, Wo, M)."""
        batch = len(x)
        h, w, c = x.shape[1:]
        ho, wo = self.output_shape(h, w)
        out = np.empty((batch, ho, wo, self.out_channels), np.int32)
        per_image = ho * wo * self.window_bits * self.groups
        step = max(1, (1 << 23) // per_image)  # about 8 MiB of unpacked window bits at a time
        cg, per = self.group_channels, self.out_channels // self.groups
        for b in range(0, batch, step):
            win = self.windows(np.asarray(x[b:b + step], np.uint8))
            n = len(win)
            for g, dense in enumerate(self._group_dense):
                rows = win[..., g * cg:(g + 1) * cg].reshape(n * ho * wo, -1)
                out[b:b + n, ..., g * per:(g + 1) * per] = dense.popcounts(rows).reshape(n, ho, wo, per)
        return out

    def reference(self, x: np.ndarray) -> np.ndarray:
        p = self.popcounts(x)
        class_of, corrections = self.border_classes(*x.shape[1:3])
        if self.thresholds is None:
            return 2 * p - self.window_bits + corrections[class_of]
        t = self.thresholds[class_of]                       # (Ho, Wo, M, K)
        bits = p[..., None] >= t[None]
        return bits.reshape(p.shape[:3] + (-1,)).astype(np.uint8)

    def fold_chain(self, in_type, chain, name):
        """Thresholds per border class on the popcount (a sign ends the chain; a channel whose sign
        falls has its weights flipped), or the scores and a :class:`~.fixed_point.Requantize` table
        (ungrouped, without zero padding)."""
        if self.thresholds is not None or not chain:
            return None
        _, corrections = self.border_classes(*in_type.shape[:2])
        if chain[-1].chain is Chain.FIXED:
            if not self._requantizable(corrections):
                raise UnsupportedModelError(
                    f"{name}: a fixed-point value must come from a BinaryLinear or an ungrouped BinaryConv2d "
                    f"that pads with -1, +1 or replicate (not zero padding, groups or 8-bit pixels)")
            return self, requantize(self.window_bits, self.out_channels, chain)
        thresholds, flip = fold_thresholds(self.window_bits, self.out_channels, chain, corrections,
                                           pixels=self.sums_pixels)
        weights = np.where(flip[:, None, None, None], 1 - self.weights, self.weights)
        return replace(self, weights=weights, thresholds=thresholds), None

    #: Its sums are of 8-bit pixels (not popcounts of bits).
    sums_pixels = False

    def _requantizable(self, corrections) -> bool:
        """Whether a table of its scores' popcounts can give fixed-point values."""
        return self.groups == 1 and len(corrections) == 1

    # -- hardware -------------------------------------------------------------------------------

    @property
    def weight_count(self) -> int:
        return self.weights.size

    def vectors_per_frame(self, in_type) -> int:
        ho, wo = self.output_shape(*in_type.shape[:2])
        return ho * wo * self.groups

    # Image stages stream one pixel per vector (not the whole image), padded to their words; a
    # grouped convolution gives each pixel's groups as separate vectors.
    def in_vector_bits(self, in_type) -> int:
        return in_type.shape[-1] * in_type.width

    def out_vector_bits(self, out_type) -> int:
        return out_type.shape[-1] * out_type.width // self.groups

    def lanes(self, in_type) -> tuple[int, int]:
        """The most useful ``(pe, simd)``: one lane per output channel of a group and per window bit."""
        return self.out_channels // self.groups, self.window_bits

    def memory_depth(self, in_type, fold) -> int:
        """Words of the unit's weight ROM: ``NF * SF`` per group."""
        return self.groups * ceil_div(self.out_channels // self.groups, fold.pe) * ceil_div(self.window_bits, fold.simd)

    def cycles(self, in_type, fold) -> int:
        """Cycles per frame: each window takes the longer of the window generator's ``k * k`` pixel
        words and the matrix-vector unit's ``NF * SF`` cycles."""
        mvu = self.memory_depth(in_type, fold) // self.groups
        return self.vectors_per_frame(in_type) * max(mvu, self.kernel * self.kernel)

    def inputs_needed(self, in_type, n: int) -> int:
        """Input pixels the hardware takes before its ``n``-th output pixel (the window generator's
        rows; :func:`bnn_hw.compiler.blocks.shortcut_depth`)."""
        return pixels_needed(*in_type.shape[:2], self.kernel, self.stride, self.padding, n)

    def inputs_accepted(self, in_type, n: int) -> int:
        """The most input pixels the hardware takes before its ``n``-th output pixel: the window
        generator's full line buffer, with the matrix-vector unit and output FIFO two pixels behind."""
        return pixels_accepted(*in_type.shape[:2], self.kernel, self.stride, self.padding, n + 2)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """Bits of the hardware's input and output words: one pixel in, ``pe`` channels out (their
        threshold bits, or their scores)."""
        per_channel = self.slices if self.thresholds is not None else self.score_width
        return self.in_vector_bits(in_type), fold.pe * per_channel

    def traffic(self, in_type, fold):
        """The matrix-vector unit's, plus the line buffer: each pixel written once, and read for
        every window (and group) that covers it."""
        from ..energy import Traffic, matrix_traffic
        h, w, c = in_type.shape
        vectors = self.vectors_per_frame(in_type)
        pixel_bits = c * in_type.width
        line_buffer = h * w * pixel_bits + vectors * self.kernel ** 2 * pixel_bits
        windows = Traffic(**{"pixel_bits" if in_type.width == 8 else "fmap_bits": line_buffer})
        return windows + matrix_traffic(vectors, self.out_channels // self.groups, self.window_bits,
                                        self.slices, fold, element_bits=in_type.width, weight_bits=self.weight_bits)

    def unit_cost(self, fold, block_ram: BlockRam) -> Cost:
        """The cost of the unit computing each window's channels: the matrix-vector unit."""
        classes = 1 if self.thresholds is None else self.thresholds.shape[0]
        return dense_cost(self.out_channels // self.groups, self.window_bits, self.slices, fold, block_ram,
                          weight_sets=self.groups, threshold_sets=self.groups * classes)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        h, w, c = in_type.shape
        mvu = self.unit_cost(fold, block_ram)
        window = window_cost(h, w, c, self.kernel, self.stride, self.groups, block_ram)
        cg = self.group_channels
        gearbox = gearbox_cost(self.window_bits, cg, fold.simd, self.window_bits) if fold.simd != cg else Cost()
        return Cost(
            cycles=self.cycles(in_type, fold),
            # the window generator with its line buffer, the gearbox from pixel words to the unit's
            # simd-bit words, the matrix-vector unit
            lut4=mvu.lut4 + window.lut4 + gearbox.lut4,
            ff=mvu.ff + window.ff + gearbox.ff,
            ebr=mvu.ebr + window.ebr,
            weight_bits=mvu.weight_bits,
            buffer_bits=mvu.buffer_bits + window.buffer_bits,
            binary_ops=self.vectors_per_frame(in_type) * mvu.binary_ops,
        )


def conv_weights(layer) -> np.ndarray:
    """A convolution layer's weight bits, channels-last: (M, kh, kw, C / groups)."""
    return (layer.weight.detach().cpu().numpy() >= 0).astype(np.uint8).transpose(0, 2, 3, 1)


@lowers(bnn.BinaryConv2d)
def _lower(layer, ctx):
    op = BinaryConv2d(conv_weights(layer), layer.stride, layer.padding, layer.pad_value, layer.groups,
                      replicate=layer.padding_mode == "replicate")
    return scaled(ctx.node("conv", op), layer)
