"""LogicConv: the compact logic convolution (:class:`bnn_hw.nn.LogicConv2d`) on channels-last bit images.

Each output channel is a tree of two-input gates whose leaves read bits of the ``k x k`` window at
fixed ``(row, column, channel)`` positions; padding bits are 0 (-1, false). The trees of all output
channels form one netlist over the window's bits, flattened in ``(ky, kx, c)`` order (the order the
sliding-window generator gives them), simplified as a whole (:func:`~bnn_hw.compiler.gates.simplify`
also shares gates that several channels compute alike). In hardware: the sliding-window generator,
a gearbox to one window per word, and the gate network pipelined, one window per cycle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ... import nn as bnn
from ..cost import BlockRam, Cost, gearbox_cost, window_cost
from ..gates import Netlist, simplify
from ..ir import Kind, TensorType
from ..microarch import pixels_accepted, pixels_needed
from .base import Fold, FoldRule, StreamOp, lowers
from .binary_conv import conv_output_size
from .logic_gates import GATE_LEVELS_PER_STAGE, gate_details

__all__ = ["LogicConv", "tree_netlist"]


def tree_netlist(leaves: np.ndarray, codes: np.ndarray, kernel: int, channels: int) -> Netlist:
    """The netlist of gate trees over a window's bits: tree ``o`` has leaves ``leaves[o]`` (``(L, 3)``
    ``(channel, row, column)``) and gates ``codes[o]`` in level order (leaf pairs first, root last);
    window bit ``(ky * kernel + kx) * channels + c`` is input ``(c, ky, kx)``."""
    leaves, codes = np.asarray(leaves, np.int64), np.asarray(codes, np.int64)
    out, count, _ = leaves.shape
    inputs = kernel * kernel * channels
    level = (leaves[:, :, 1] * kernel + leaves[:, :, 2]) * channels + leaves[:, :, 0]   # (out, L)
    a, b, code = [], [], []
    start, gates = 0, 0
    while level.shape[1] > 1:
        pairs = level.shape[1] // 2
        a.append(level[:, 0::2].reshape(-1))
        b.append(level[:, 1::2].reshape(-1))
        code.append(codes[:, start:start + pairs].reshape(-1))
        level = inputs + gates + np.arange(out * pairs).reshape(out, pairs)
        gates += out * pairs
        start += pairs
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
    return Netlist(inputs, cat(a), cat(b), cat(code), level[:, 0], np.zeros(out, np.uint8))


@dataclass(frozen=True, eq=False)
class LogicConv(StreamOp):
    """Gate trees on every ``kernel x kernel`` window (stride, zero-bit padding) of a bit image."""

    netlist: Netlist               #: over a window's bits, one output per channel (simplified)
    kernel: int
    stride: int = 1
    padding: int = 0
    gates_before: Counter = field(default_factory=Counter)

    fold_rule = FoldRule.SEARCHED

    @classmethod
    def of(cls, leaves, codes, kernel: int, channels: int, stride: int = 1, padding: int = 0) -> "LogicConv":
        net = tree_netlist(leaves, codes, kernel, channels)
        return cls(simplify(net).leveled(), kernel, stride, padding, net.functions())

    @property
    def out_channels(self) -> int:
        return len(self.netlist.outputs)

    def __repr__(self):
        return (f"LogicConv({self.kernel}x{self.kernel}, {self.out_channels} channels, "
                f"{self.netlist.gates} gates)")

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        return tuple(conv_output_size(n, self.kernel, self.stride, self.padding) for n in (height, width))

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.BITS or len(x.shape) != 3:
            raise ValueError(f"takes a bit image, got {x}")
        h, w, c = x.shape
        if c * self.kernel ** 2 != self.netlist.inputs:
            raise ValueError(f"expects {self.netlist.inputs // self.kernel ** 2} channels, got {c}")
        ho, wo = self.output_shape(h, w)
        if ho < 1 or wo < 1:
            raise ValueError(f"a {h}x{w} image is smaller than its {self.kernel}x{self.kernel} window "
                             f"(padding {self.padding})")
        return TensorType((ho, wo, self.out_channels), Kind.BITS)

    def reference(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.uint8)
        k, s, p = self.kernel, self.stride, self.padding
        if p:
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        windows = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]    # (B, Ho, Wo, C, k, k)
        batch, ho, wo = windows.shape[:3]
        flat = windows.transpose(0, 1, 2, 4, 5, 3).reshape(batch * ho * wo, -1)
        return self.netlist(flat).reshape(batch, ho, wo, -1)

    # -- streams: one pixel in per word, one output pixel's bits out -----------------------------------

    def vectors_per_frame(self, in_type) -> int:
        ho, wo = self.output_shape(*in_type.shape[:2])
        return ho * wo

    def in_vector_bits(self, in_type) -> int:
        return in_type.shape[-1]

    def out_vector_bits(self, out_type) -> int:
        return out_type.shape[-1]

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        return in_type.shape[-1], self.out_channels

    def lanes(self, in_type) -> tuple[int, int]:
        return 1, max(self.netlist.levels, 1)

    def cheapest_fold(self, in_type, budget: int) -> Fold:
        """One window per cycle; the fold's ``simd`` is the gate levels between pipeline registers."""
        return Fold(1, GATE_LEVELS_PER_STAGE)

    def cycles(self, in_type, fold) -> int:
        """The window generator's ``k * k`` pixel words per output pixel."""
        return self.vectors_per_frame(in_type) * self.kernel ** 2

    def inputs_needed(self, in_type, n: int) -> int:
        return pixels_needed(*in_type.shape[:2], self.kernel, self.stride, self.padding, n)

    def inputs_accepted(self, in_type, n: int) -> int:
        return pixels_accepted(*in_type.shape[:2], self.kernel, self.stride, self.padding, n + 2)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        h, w, c = in_type.shape
        net = self.netlist
        window = window_cost(h, w, c, self.kernel, self.stride, 1, block_ram)
        gearbox = gearbox_cost(net.inputs, c, net.inputs, net.inputs) if self.kernel > 1 else Cost()
        held = sum(len(signals) for _, signals in net.cuts(fold.simd))
        return Cost(cycles=self.cycles(in_type, fold), lut4=window.lut4 + gearbox.lut4 + net.gates,
                    ff=window.ff + gearbox.ff + net.inputs + held + 4 * self.out_channels,
                    ebr=window.ebr, buffer_bits=window.buffer_bits,
                    binary_ops=self.vectors_per_frame(in_type) * net.gates)

    def traffic(self, in_type, fold):
        """The line buffer (each pixel written once, read for every window covering it) and a gate
        operation per gate and window."""
        from ..energy import Traffic
        h, w, c = in_type.shape
        vectors = self.vectors_per_frame(in_type)
        return Traffic(fmap_bits=h * w * c + vectors * self.kernel ** 2 * c,
                       binary_ops=vectors * self.netlist.gates)

    def details(self) -> dict:
        return gate_details(self.netlist, self.gates_before)


@lowers(bnn.LogicConv2d)
def _lower(layer, ctx):
    in_type = ctx.in_type
    if in_type.kind is not Kind.BITS or len(in_type.shape) != 3 or in_type.shape[2] != layer.in_channels:
        raise ctx.error(f"takes a bit image of {layer.in_channels} channels, got {in_type}")
    leaves, codes = layer.tree()
    return [ctx.node("logicconv", LogicConv.of(leaves, codes, layer.kernel_size, layer.in_channels,
                                               layer.stride, layer.padding))]
