"""Real-valued ops that exist only before streamlining: per-channel Scale, BatchNorm, Bias, PReLU,
ReLU and Sigmoid (Activation), (multi-slice) Sign and integer Threshold.

Channels are the last axis of a value (vectors and channels-last images alike).

Their semantics are the exact PyTorch eval-mode computations of the training layers (same
functional calls on float32), so the streamlining pass can fold them into integer thresholds by
evaluating them, and tests can run an un-streamlined graph as a second reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torch import nn

from ... import nn as bnn
from ...errors import UnsupportedModelError
from ..ir import Kind, TensorType
from ._arrays import frozen_array
from .base import Chain, Op, lowers

__all__ = ["Scale", "BatchNorm", "Bias", "PReLU", "Activation", "Sign", "Threshold"]


def _real_channels(x: TensorType, op: str, channels: int) -> TensorType:
    if x.kind not in (Kind.INT, Kind.REAL):
        raise ValueError(f"{op} takes numbers, got {x}")
    if x.shape[-1] != channels:
        raise ValueError(f"{op} has {channels} channels but its input has {x.shape[-1]}")
    return TensorType(x.shape, Kind.REAL, 32)


def _torch(fn, x):
    """``fn`` on the channels (last axis) of ``x``, as a (rows, channels) float32 tensor."""
    import torch
    x = np.asarray(x, np.float32)
    with torch.no_grad():
        return fn(torch.tensor(x.reshape(-1, x.shape[-1]))).numpy().reshape(x.shape)


class _ChainOp(Op, abstract=True):
    """A per-channel real op inside a chain (:attr:`Chain.AFFINE`): its NumPy semantics are its
    float32 PyTorch ``torch_forward`` on the channels."""

    real_only = True
    chain = Chain.AFFINE

    def torch_forward(self, t):
        raise NotImplementedError

    def reference(self, x):
        return _torch(self.torch_forward, x)


@dataclass(frozen=True, eq=False)
class Scale(_ChainOp):
    """``y = x * scale`` per channel (``BinaryLinear(scale=True)``)."""

    scale: np.ndarray

    layer_name = "a per-channel scale"

    def __post_init__(self):
        object.__setattr__(self, "scale", frozen_array(self.scale, np.float32))

    def __repr__(self):
        return f"Scale({self.scale.size})"

    def infer(self, inputs):
        return _real_channels(inputs[0], "Scale", self.scale.size)

    def torch_forward(self, t):
        import torch
        return t * torch.tensor(self.scale)


@dataclass(frozen=True, eq=False)
class BatchNorm(_ChainOp):
    """Eval-mode ``torch.nn.BatchNorm1d`` / ``BatchNorm2d`` with its running statistics, per channel
    (the last axis, channels-last)."""

    mean: np.ndarray
    var: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    eps: float

    layer_name = "BatchNorm"

    def __post_init__(self):
        for f in ("mean", "var", "weight", "bias"):
            object.__setattr__(self, f, frozen_array(getattr(self, f), np.float32))

    def __repr__(self):
        return f"BatchNorm({self.mean.size})"

    def infer(self, inputs):
        return _real_channels(inputs[0], "BatchNorm", self.mean.size)

    def torch_forward(self, t):
        import torch
        from torch.nn import functional as F
        p = [torch.tensor(a) for a in (self.mean, self.var, self.weight, self.bias)]
        return F.batch_norm(t, p[0], p[1], p[2], p[3], False, 0.0, self.eps)


@dataclass(frozen=True, eq=False)
class Bias(_ChainOp):
    """``y = x + bias`` per channel (:class:`bnn_hw.nn.LearnableBias`). On a fixed-point value
    (``frac`` set) the input is its integer ``k``, which stands for ``k / 2**frac``, as PyTorch holds it.

    After a binary layer it is part of that layer's chain. On a fixed-point value it folds the sign
    after it itself: one integer threshold per channel, a :class:`~.fixed_point.FixedSign`.
    """

    bias: np.ndarray
    frac: int | None = None

    layer_name = "LearnableBias"

    def __post_init__(self):
        object.__setattr__(self, "bias", frozen_array(self.bias, np.float32))

    def __repr__(self):
        return f"Bias({self.bias.size})"

    def infer(self, inputs):
        return _real_channels(inputs[0], "LearnableBias", self.bias.size)

    def torch_forward(self, t):
        import torch
        return (t if self.frac is None else t * 2.0 ** -self.frac) + torch.tensor(self.bias)


    def fold_chain(self, in_type, chain, name):
        """On a fixed-point value, ``[Sign]`` after it becomes a :class:`~.fixed_point.FixedSign` with
        one threshold per channel (:func:`~..thresholds.fold_fixed_thresholds`)."""
        from ..thresholds import fold_fixed_thresholds
        from .fixed_point import FixedSign
        if self.frac is None or chain is None:
            return None
        if len(chain) != 1 or not isinstance(chain[0], Sign) or chain[0].slices != 1:
            raise UnsupportedModelError(f"{name}: on a fixed-point feature map a LearnableBias must be "
                                        f"followed directly by a Sign")
        lo, hi = -(1 << (in_type.width - 1)), (1 << (in_type.width - 1)) - 1
        return FixedSign(fold_fixed_thresholds(lo, hi, self.bias.size, [self, chain[0]])), None


@dataclass(frozen=True, eq=False)
class PReLU(_ChainOp):
    """``torch.nn.PReLU``: ``x`` where ``x >= 0``, else ``weight * x`` (one weight, or one per channel).

    Part of a chain like BatchNorm: before a ``FixedPoint`` it lands in the table of every popcount,
    whatever its slope; before a sign the chain must stay monotonic (a negative slope is refused by
    the folding, naming the channel).
    """

    weight: np.ndarray

    layer_name = "PReLU"

    def __post_init__(self):
        object.__setattr__(self, "weight", frozen_array(self.weight, np.float32))

    def __repr__(self):
        return f"PReLU({self.weight.size})"

    def infer(self, inputs):
        x = inputs[0]
        return _real_channels(x, "PReLU", x.shape[-1] if self.weight.size == 1 else self.weight.size)

    def torch_forward(self, t):
        import torch
        from torch.nn import functional as F
        return F.prelu(t, torch.tensor(self.weight))


@dataclass(frozen=True)
class Activation(_ChainOp):
    """An element-wise rising activation: ``torch.nn.ReLU`` (``"relu"``) or ``torch.nn.Sigmoid``
    (``"sigmoid"``). In a chain before a ``FixedPoint`` or a sign it folds with the rest into levels
    or thresholds (a sigmoid's table is its levels: a threshold per step of the rounded output)."""

    function: str

    FUNCTIONS = ("relu", "sigmoid")

    def __post_init__(self):
        if self.function not in self.FUNCTIONS:
            raise ValueError(f"activation must be one of {self.FUNCTIONS}, not {self.function!r}")

    @property
    def layer_name(self) -> str:
        return {"relu": "ReLU", "sigmoid": "Sigmoid"}[self.function]

    def __repr__(self):
        return f"Activation({self.function})"

    def infer(self, inputs):
        x = inputs[0]
        return _real_channels(x, self.layer_name, x.shape[-1])

    def torch_forward(self, t):
        import torch
        return torch.relu(t) if self.function == "relu" else torch.sigmoid(t)


@dataclass(frozen=True)
class Sign(Op):
    """``x - offset >= 0 -> bit 1 (+1)``, else bit 0 (-1), for each of the ``offsets``.

    One offset (0, the default) is the plain sign. Several are BoolNet's multi-slice sign: channel
    ``c`` gives bits ``c * K + j`` for ``j`` over the K sorted offsets (channels-last, a thermometer
    code), ``x - offset`` computed in float32 as :class:`bnn_hw.nn.MultiSliceSign` does.
    """

    offsets: tuple[float, ...] = (0.0,)

    real_only = True
    chain = Chain.BITS
    layer_name = "Sign"

    def __post_init__(self):
        offsets = tuple(float(np.float32(o)) for o in self.offsets)
        if not offsets or list(offsets) != sorted(set(offsets)):
            raise ValueError(f"sign offsets must be strictly increasing, not {self.offsets}")
        object.__setattr__(self, "offsets", offsets)

    @property
    def slices(self) -> int:
        return len(self.offsets)

    def __repr__(self):
        return "Sign()" if self.offsets == (0.0,) else f"Sign(offsets={list(self.offsets)})"

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.REAL:
            raise ValueError(f"Sign takes real values, got {x}")
        return TensorType(x.shape[:-1] + (x.shape[-1] * self.slices,), Kind.BITS)

    def slice_bits(self, t):
        """The output bits of a float32 torch tensor ``t`` (..., C) as a bool tensor (..., C, K)."""
        import torch
        return (t.unsqueeze(-1) - torch.tensor(self.offsets, dtype=torch.float32)) >= 0

    def reference(self, x):
        import torch
        x = np.asarray(x, np.float32)
        bits = self.slice_bits(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        return bits.reshape(x.shape[:-1] + (-1,)).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class Threshold(Op):
    """``(x >= thresholds[c]) != invert[c] -> bit 1``, else bit 0, per channel: an activation already
    folded to integers (:class:`bnn_hw.nn.Threshold`). It ends a chain like :class:`Sign`, so the layer
    before it folds it into its own thresholds by the same evaluation."""

    thresholds: np.ndarray
    invert: np.ndarray

    real_only = True
    chain = Chain.BITS
    layer_name = "Threshold"

    def __post_init__(self):
        object.__setattr__(self, "thresholds", frozen_array(self.thresholds, np.int64))
        object.__setattr__(self, "invert", frozen_array(self.invert, np.bool_))

    def __repr__(self):
        return f"Threshold({self.thresholds.size})"

    def infer(self, inputs):
        (x,) = inputs
        _real_channels(x, "Threshold", self.thresholds.size)
        return TensorType(x.shape, Kind.BITS)

    def slice_bits(self, t):
        """The output bits of a float32 torch tensor ``t`` (..., C) as a bool tensor (..., C, 1)."""
        import torch
        bits = (t >= torch.tensor(self.thresholds, dtype=torch.float32)) != torch.tensor(self.invert)
        return bits.unsqueeze(-1)

    def reference(self, x):
        x = np.asarray(x)
        return ((x >= self.thresholds) != self.invert).astype(np.uint8)


@lowers(nn.BatchNorm1d, nn.BatchNorm2d)
def _lower_batchnorm(layer, ctx):
    op = BatchNorm(*(t.detach().cpu().numpy() for t in (layer.running_mean, layer.running_var, layer.weight,
                                                       layer.bias)), float(layer.eps))
    return [ctx.node("batchnorm", op)]


@lowers(bnn.LearnableBias)
def _lower_bias(layer, ctx):
    frac = ctx.in_type.frac if ctx.in_type.kind is Kind.INT else None
    return [ctx.node("bias", Bias(layer.bias.detach().cpu().numpy(), frac))]


@lowers(nn.PReLU)
def _lower_prelu(layer, ctx):
    return [ctx.node("prelu", PReLU(layer.weight.detach().cpu().numpy()))]


@lowers(nn.ReLU, nn.Sigmoid)
def _lower_activation(layer, ctx):
    function = "relu" if isinstance(layer, nn.ReLU) else "sigmoid"
    return [ctx.node(function, Activation(function))]


@lowers(bnn.Sign)
def _lower_sign(layer, ctx):
    from .fixed_point import FixedSign
    return [ctx.node("sign", FixedSign() if ctx.in_type.kind is Kind.INT else Sign())]


@lowers(bnn.MultiSliceSign)
def _lower_multi_slice_sign(layer, ctx):
    return [ctx.node("sign", Sign(tuple(layer.offsets)))]


@lowers(bnn.Threshold)
def _lower_threshold(layer, ctx):
    return [ctx.node("threshold", Threshold(layer.thresholds.cpu().numpy(), layer.invert.cpu().numpy()))]
