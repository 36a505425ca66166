"""Random instances of every hardware op, for the generic op-contract tests (``test_compiler_ops_base``).

``EXAMPLES[name](rng)`` returns an :class:`Example` of the op class ``name``: a small random op with
random shapes that its type rule accepts, its input types (two for a join: body, shortcut), a fold
its hardware supports and, where not every value of the input types can occur, how to draw inputs. A new hardware op adds its entry here and is then checked like
every other: hardware == reference under random stalls, and the contract's shape rules.
"""

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from bnn_hw.compiler.ir import Kind, TensorType
from bnn_hw.compiler.ops import (Add, ArgMax, AvgPool, BinaryConv2d, BinaryDense, ChannelProduct, ChannelShuffle,
                                 Concat, FixedConv, GlobalSum,
                                 FixedDense, FixedSign, Fold, GateNetwork, IntPixelConv2d, LevelThresholds, LogicConv,
                                 LogicJoin, MaxPool, Mix, PixelConv2d, Product, Requantize, Rescale, SparseConv2d,
                                 SparseDense, Thermometer)
from bnn_hw.compiler.gates import layered_netlist

__all__ = ["EXAMPLES", "Example", "random_values"]


@dataclass
class Example:
    op: object
    in_types: tuple
    fold: Fold
    #: ``(rng, batch) -> [input arrays]``; default: any values of the input types
    draw: Callable | None = None

    def inputs(self, rng, batch: int) -> list:
        if self.draw is not None:
            return self.draw(rng, batch)
        return [random_values(rng, t, batch) for t in self.in_types]

    def __iter__(self):
        return iter((self.op, self.in_types, self.fold))


def random_values(rng, value_type: TensorType, batch: int) -> np.ndarray:
    """``batch`` random values of ``value_type`` (any bit pattern of its width)."""
    shape = (batch,) + value_type.shape
    if value_type.kind is Kind.BITS:
        return rng.integers(0, 2, shape).astype(np.uint8)
    if value_type.kind is Kind.UINT8:
        return rng.integers(0, 256, shape).astype(np.uint8)
    half = 1 << (value_type.width - 1)
    return rng.integers(-half, half, shape)


def _bits(rng, *shape):
    return rng.integers(0, 2, shape).astype(np.uint8)


def _image(rng, kind=Kind.BITS, width=1, frac=0, channels=None):
    h, w = (int(v) for v in rng.integers(2, 7, 2))
    c = int(channels or rng.integers(1, 6))
    return TensorType((h, w, c), kind, width, frac)


def _sorted_thresholds(rng, lo, hi, shape):
    return np.sort(rng.integers(lo, hi + 1, shape), axis=-1)


def _fold(rng, max_pe, max_simd=1):
    return Fold(int(rng.integers(1, max_pe + 1)), int(rng.integers(1, max_simd + 1)))


def thermometer(rng):
    k = int(rng.integers(1, 4))
    op = Thermometer(tuple(sorted(rng.choice(np.arange(1, 256), k, replace=False).tolist())))
    features = int(rng.integers(2, 20))
    return Example(op, (TensorType((features,), Kind.UINT8, 8),), Fold(1, int(rng.integers(1, features + 1))))


def binary_dense(rng):
    n, m, k = int(rng.integers(3, 40)), int(rng.integers(2, 9)), int(rng.integers(0, 3))
    # thresholds near the popcounts' mean, so a threshold off by one shows
    thresholds = _sorted_thresholds(rng, n // 2 - 2, n // 2 + 2, (m, k)) if k else None
    op = BinaryDense(_bits(rng, m, n), thresholds)
    fold = Fold(m, n) if rng.random() < 0.3 else _fold(rng, m, n)   # full lanes: built unrolled
    return Example(op, (TensorType((n,), Kind.BITS),), fold)


def sparse_dense(rng):
    """Any alpha and beta, a sparsity from 1% to 50%, odd sizes; unrolled (full lanes) or folded."""
    n, m, k = int(rng.integers(3, 60)), int(rng.integers(2, 20)), int(rng.integers(0, 4))
    alpha, beta = (int(v) for v in rng.choice(np.arange(-6, 7), 2, replace=False))
    mask = (rng.random((m, n)) < rng.uniform(0.01, 0.5)).astype(np.uint8)
    op = SparseDense(mask, alpha, beta)
    unrolled = k == 0 or rng.random() < 0.5   # scores only unrolled
    if k:
        spread = op.score_bound // 4 + 1
        op = SparseDense(mask, alpha, beta, rng.integers(-spread, spread + 1, (m, k)), rng.random(m) < 0.5)
    return Example(op, (TensorType((n,), Kind.BITS),), Fold(m, n) if unrolled else _fold(rng, m, n))


def sparse_conv(rng):
    """A sparse convolution padding with -1 or +1; unrolled (whole windows) or folded."""
    image = _image(rng)
    h, w, c = image.shape
    kernel = int(rng.integers(1, min(h, w, 3) + 1))
    m, k = int(rng.integers(1, 6)), int(rng.integers(0, 3))
    alpha, beta = (int(v) for v in rng.choice(np.arange(-5, 6), 2, replace=False))
    mask = (rng.random((m, kernel, kernel, c)) < rng.uniform(0.01, 0.5)).astype(np.uint8)
    op = SparseConv2d(mask, int(rng.integers(1, 3)), int(rng.integers(0, kernel)), int(rng.choice([-1, 1])),
                      alpha=alpha, beta=beta)
    unrolled = k == 0 or rng.random() < 0.5
    if k:
        spread = op.dense.score_bound // 4 + 1
        op = SparseConv2d(mask, op.stride, op.padding, op.pad_value, alpha=alpha, beta=beta,
                          thresholds=rng.integers(-spread, spread + 1, (1, m, k)), invert=rng.random(m) < 0.5)
    return Example(op, (image,), Fold(m, op.window_bits) if unrolled else _fold(rng, m, op.window_bits))


def binary_conv(rng):
    image = _image(rng)
    h, w, c = image.shape
    groups = int(rng.choice([g for g in (1, 2, 3) if c % g == 0]))
    kernel = int(rng.integers(1, min(h, w, 3) + 1))
    padding, stride = int(rng.integers(0, kernel)), int(rng.integers(1, 3))
    per = int(rng.integers(1, 4))
    op = BinaryConv2d(_bits(rng, per * groups, kernel, kernel, c // groups), stride, padding,
                      int(rng.choice([-1, 0, 1])), groups)
    if rng.random() < 0.7:
        classes = len(op.border_classes(h, w)[1])
        k = int(rng.integers(1, 3))
        op = BinaryConv2d(op.weights, stride, padding, op.pad_value, groups,
                          _sorted_thresholds(rng, op.window_bits // 2 - 1, op.window_bits // 2 + 2,
                                             (classes, per * groups, k)))
    return Example(op, (image,), _fold(rng, per, op.window_bits))


def pixel_conv(rng):
    image = _image(rng, Kind.UINT8, 8)
    c = image.shape[2]
    kernel = int(rng.integers(1, min(image.shape[:2]) + 1))
    m = int(rng.integers(1, 4))
    op = PixelConv2d(_bits(rng, m, kernel, kernel, c), 1, int(rng.integers(0, kernel)))
    if rng.random() < 0.7:
        lo, hi = op.dot_range
        op = PixelConv2d(op.weights, op.stride, op.padding, thresholds=_sorted_thresholds(rng, lo // 8, hi // 8, (1, m, 1)))
    return Example(op, (image,), _fold(rng, m, op.window_bits))


def int_pixel_conv(rng):
    """2- to 9-bit weights, their extremes included; thresholds near the sums (or scores); the unit's
    bit planes (seeds 0 and 1 of the generic test) or its multipliers (seeds 2 and 3)."""
    multipliers = bool(rng.random() < 0.5)
    image = _image(rng, Kind.UINT8, 8)
    c = image.shape[2]
    kernel, m, bits = int(rng.integers(1, min(image.shape[:2]) + 1)), int(rng.integers(1, 4)), int(rng.integers(2, 10))
    half = 1 << (bits - 1)
    weights = rng.integers(-half, half, (m, kernel, kernel, c))
    weights.reshape(-1)[[0, -1]] = -half, half - 1   # one extreme where the window is one weight
    op = IntPixelConv2d(weights, int(rng.integers(1, 3)), int(rng.integers(0, kernel)))
    if rng.random() < 0.7:
        lo, hi = op.dot_range
        op = replace(op, thresholds=_sorted_thresholds(rng, lo // 8, hi // 8, (1, m, int(rng.integers(1, 3)))))
    fold = _fold(rng, m, op.window_bits)
    return Example(op, (image,), Fold(fold.pe, fold.simd, multipliers))


def max_pool(rng):
    image = _image(rng)
    return Example(MaxPool(int(rng.integers(2, min(image.shape[:2]) + 1))), (image,), Fold())


def avg_pool(rng):
    image = _image(rng, Kind.INT, int(rng.integers(3, 8)), 1)
    return Example(AvgPool(2), (image,), _fold(rng, image.shape[2]))


def fixed_conv(rng):
    image = _image(rng, Kind.INT, int(rng.integers(3, 7)), 2)
    m, c = int(rng.integers(1, 5)), image.shape[2]
    op = FixedConv(rng.integers(-8, 8, (m, c)), 2, image.frac, sums=True)
    fold = _fold(rng, m, c)
    return Example(op, (image,), Fold(fold.pe, fold.simd, multipliers=bool(rng.random() < 0.5)))


def fixed_dense(rng):
    n, m, bits = int(rng.integers(2, 30)), int(rng.integers(1, 6)), int(rng.integers(2, 9))
    half = 1 << (bits - 1)
    op = FixedDense(rng.integers(-half, half, (m, n)))
    return Example(op, (TensorType((n,), Kind.BITS),), _fold(rng, m, n))


def level_thresholds(rng):
    c = int(rng.integers(1, 6))
    width = int(rng.integers(4, 9))
    half = 1 << (width - 1)
    op = LevelThresholds(_sorted_thresholds(rng, -half, half, (c, int(rng.integers(1, 8)))), int(rng.integers(-4, 2)), 1)
    return Example(op, (TensorType((int(rng.integers(1, 4)), 2, c), Kind.INT, width),), _fold(rng, c))


def requantize(rng):
    c, n = int(rng.integers(1, 7)), int(rng.integers(2, 20))
    op = Requantize(rng.integers(-30, 30, (c, n + 1)), 2)
    simd = int(rng.integers(1, c + 1))
    pe = int(rng.choice([d for d in range(1, simd + 1) if simd % d == 0]))
    def scores(rng, batch):   # 2p - N for p matches of N inputs
        return [2 * rng.integers(0, n + 1, (batch, c)) - n]
    return Example(op, (TensorType((c,), Kind.INT, n.bit_length() + 1),), Fold(pe, simd), scores)


def fixed_sign(rng):
    """The plain sign, or one threshold per channel (a bias before it), "never" included."""
    image = _image(rng, Kind.INT, int(rng.integers(2, 7)), 1)
    half = 1 << (image.width - 1)
    thresholds = rng.integers(-half, half + 1, image.shape[2]) if rng.random() < 0.5 else None
    return Example(FixedSign(thresholds), (image,), _fold(rng, image.shape[2]))


def channel_shuffle(rng):
    image = _image(rng, channels=int(rng.choice([2, 4, 6, 8])))
    return Example(ChannelShuffle(int(rng.choice([2, image.shape[2] // 2]))), (image,), Fold())


def argmax(rng):
    classes = int(rng.integers(2, 11))
    lanes = int(rng.integers(1, classes + 4))
    tree = lanes >= classes and rng.random() < 0.5    # all scores at once: the comparator tree
    return Example(ArgMax(), (TensorType((classes,), Kind.INT, int(rng.integers(3, 8))),),
                   Fold(classes if tree else 1, lanes))


def gate_network(rng):
    """Random gate layers (every function, inputs read twice) and group sums."""
    classes, width = int(rng.integers(1, 5)), int(rng.integers(2, 24))
    layers, inputs = [], width
    for _ in range(int(rng.integers(1, 5))):
        gates = int(rng.integers(1, 30))
        layers.append((rng.integers(0, width, gates), rng.integers(0, width, gates), rng.integers(0, 16, gates)))
        width = gates
    gates = classes * int(rng.integers(1, 40))
    layers.append((rng.integers(0, width, gates), rng.integers(0, width, gates), rng.integers(0, 16, gates)))
    op = GateNetwork.of(layered_netlist(inputs, layers), classes)
    return Example(op, (TensorType((inputs,), Kind.BITS),), Fold(classes, int(rng.integers(1, 4))))


def logic_conv(rng):
    """Random gate trees on the windows of a small bit image."""
    image = _image(rng, channels=int(rng.integers(1, 4)))
    kernel, depth, out = int(rng.choice([1, 2, 3])), int(rng.integers(1, 4)), int(rng.integers(1, 6))
    c = image.shape[2]
    leaves = np.stack([rng.integers(0, c, (out, 2 ** depth)), rng.integers(0, kernel, (out, 2 ** depth)),
                       rng.integers(0, kernel, (out, 2 ** depth))], axis=-1)
    op = LogicConv.of(leaves, rng.integers(0, 16, (out, 2 ** depth - 1)), kernel, c, int(rng.integers(1, 3)),
                      int(rng.integers(0, 2)))
    return Example(op, (image,), Fold(1, int(rng.integers(1, 3))))


def logic_join(rng):
    image = _image(rng)
    return Example(LogicJoin(str(rng.choice(["xnor", "or"]))), (image, image), Fold())


def concat(rng):
    """Bits, or fixed-point values on one grid of different widths (two branches side by side)."""
    if rng.random() < 0.5:
        body = _image(rng)
        shortcut = TensorType(body.shape[:2] + (int(rng.integers(1, 5)),), Kind.BITS)
        return Example(Concat(shortcut.shape[2]), (body, shortcut), Fold())
    body = _image(rng, Kind.INT, int(rng.integers(3, 8)), 2)
    shortcut = TensorType(body.shape[:2] + (int(rng.integers(1, 5)),), Kind.INT, int(rng.integers(3, 8)), 2)
    return Example(Concat(shortcut.shape[2], body.shape[2]), (body, shortcut), Fold())


def add(rng):
    body = _image(rng, Kind.INT, int(rng.integers(3, 8)), 2)
    shortcut = TensorType(body.shape, Kind.INT, int(rng.integers(3, 8)), 2)
    return Example(Add(body.shape[2]), (body, shortcut), _fold(rng, body.shape[2]))


def mix(rng):
    """Info-Recoupling: any mix per channel (0 and 1 included), inputs of different widths; a
    vector in one word or several (the word's constants)."""
    body = _image(rng, Kind.INT, int(rng.integers(3, 8)), 2, channels=int(rng.integers(1, 7)))
    shortcut = TensorType(body.shape, Kind.INT, int(rng.integers(3, 8)), 2)
    frac = int(rng.integers(1, 5))
    return Example(Mix(rng.integers(0, (1 << frac) + 1, body.shape[2]), frac), (body, shortcut),
                   _fold(rng, body.shape[2]))


def product(rng):
    """ELM attention: two values on different grids and widths."""
    body = _image(rng, Kind.INT, int(rng.integers(2, 8)), int(rng.integers(0, 2)))
    shortcut = TensorType(body.shape, Kind.INT, int(rng.integers(3, 8)), int(rng.integers(0, 3)))
    return Example(Product(body.shape[2]), (body, shortcut), _fold(rng, body.shape[2]))


def rescale(rng):
    """A coarser grid (rounding half to even), the same or a finer one, clamped to fewer or more bits."""
    in_frac = int(rng.integers(0, 6))
    image = _image(rng, Kind.INT, int(rng.integers(in_frac + 2, 12)), in_frac)
    width = int(rng.integers(2, 12))
    frac = int(rng.integers(0, width))
    return Example(Rescale(in_frac, frac, width), (image,), _fold(rng, image.shape[2]))


def global_sum(rng):
    image = _image(rng, Kind.INT, int(rng.integers(2, 8)), 1, channels=int(rng.integers(1, 7)))
    return Example(GlobalSum(), (image,), _fold(rng, image.shape[2]))


def channel_product(rng):
    """Squeeze-and-excitation's scaling: one gate per channel for every pixel of the image."""
    image = _image(rng, Kind.INT, int(rng.integers(3, 8)), 2, channels=int(rng.integers(1, 7)))
    gates = TensorType((1, 1, image.shape[2]), Kind.INT, int(rng.integers(2, 7)), 1)
    return Example(ChannelProduct(image.shape[2], image.shape[0] * image.shape[1]), (gates, image),
                   _fold(rng, image.shape[2]))


EXAMPLES = {
    "Thermometer": thermometer, "BinaryDense": binary_dense, "BinaryConv2d": binary_conv, "PixelConv2d": pixel_conv,
    "IntPixelConv2d": int_pixel_conv,
    "MaxPool": max_pool, "AvgPool": avg_pool, "FixedConv": fixed_conv, "FixedDense": fixed_dense,
    "LevelThresholds": level_thresholds,
    "Requantize": requantize, "FixedSign": fixed_sign, "ChannelShuffle": channel_shuffle, "ArgMax": argmax,
    "LogicJoin": logic_join, "Concat": concat, "Add": add, "Mix": mix, "Product": product, "Rescale": rescale,
    "GlobalSum": global_sum, "ChannelProduct": channel_product, "GateNetwork": gate_network,
    "LogicConv": logic_conv, "SparseDense": sparse_dense, "SparseConv2d": sparse_conv,
}
