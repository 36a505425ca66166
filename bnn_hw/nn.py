"""Training layers for binary neural networks that bnn-hw can compile.

Every layer's eval-mode forward is exact: binary values are exactly +-1.0, binary dot products are
sums of +-1 terms (exact in float32 below 2**24), so the compiler can reproduce the output bit for bit.
Bit encoding (``docs/conventions.md``): +1 is bit 1, -1 is bit 0, and ``sign(0) = +1``.

Layers:

- :class:`ImageInput`: declares a convolutional model's input size (channels, height, width).
- :class:`Thermometer`: 8-bit pixels -> k bits per pixel (``pixel >= t`` for each threshold ``t``).
- :class:`BinaryLinear`: binary weights (sign of latent weights, straight-through gradient),
  optional learned per-output-channel scale.
- :class:`BinaryConv2d`: binary 2-D convolution (kernel, stride, groups, optional scale) with a
  declared padding value: -1, +1 or 0.
- :class:`PixelConv2d`: a first convolution on 8-bit pixels with binary weights (integer sums, as
  FINN's CNV does), the alternative to a Thermometer.
- :class:`Sign`: binary activation with a straight-through (clamp) or Bi-Real ApproxSign gradient.
- :class:`MultiSliceSign`: BoolNet's multi-slice binarization, K signs per channel at sorted offsets
  (a K-bit thermometer code of the channel).
- :class:`ChannelShuffle`: ShuffleNet's channel shuffle (after a multi-slice sign, it puts the
  slices first for a convolution with one group per slice).
- :class:`ConcatShortcut`: the input's channels followed by those a body of layers computes from it.
- :class:`LogicShortcut`: BoolNet's logic shortcut, ``XNOR`` or ``OR`` of a body of layers' bits
  with the bits the body started from.
- :class:`FixedPoint`: rounds real values to a signed fixed-point grid (Bi-Real's real-valued feature
  maps, as the hardware keeps them).
- :class:`RealShortcut`: Bi-Real Net's real-valued shortcut, ``body(x) + x`` on fixed-point values,
  or ``body(x) + branch(x)`` with a :class:`ShortcutBranch` (Bi-Real's downsampling shortcut).
- :class:`FixedPointConv2d`: a real 1x1 convolution with fixed-point weights (the downsampling
  shortcut's), exact on fixed-point inputs.
- ``torch.nn.BatchNorm1d``, ``BatchNorm2d``, ``MaxPool2d``, ``AvgPool2d`` (both non-overlapping:
  stride = kernel) and ``Flatten`` are used as they are; ``Dropout`` and ``Identity`` are accepted and
  vanish (they do nothing in eval mode). Max-pool on +-1 values is a logical OR of
  the bits; average pooling of fixed-point values is their sum on a finer grid.

Each bnn-hw layer describes itself with :meth:`config` and is rebuilt with ``cls(**config)``; this is
what :func:`bnn_hw.save` writes, so no code is ever pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ModelFileError

__all__ = ["ImageInput", "Thermometer", "BinaryLinear", "BinaryConv2d", "PixelConv2d", "Sign", "MultiSliceSign",
           "ChannelShuffle", "LogicShortcut", "ConcatShortcut", "FixedPoint", "RealShortcut", "ShortcutBranch",
           "FixedPointConv2d", "binarize", "sign_ste", "sign_approx", "PAD_VALUES", "BOOLNET_OFFSETS", "LAYER_TYPES",
           "LayerType", "layer_type", "layer_config", "supported_layers"]


@dataclass(frozen=True)
class LayerType:
    """A layer a model may hold: its class and the function giving its constructor arguments
    (``cls(*children, **config(layer))`` rebuilds it; a container's children are its layers)."""

    cls: type
    config: Callable[[nn.Module], dict]

    @property
    def container(self) -> bool:
        """It holds a body of layers."""
        return issubclass(self.cls, nn.Sequential)


#: Every layer type a model may hold, by name: bnn-hw's own layers (registered where they are
#: defined, by :func:`layer_type`) and the PyTorch layers it accepts (at the end of this module).
#: The model file and the compiler's frontend read this; nothing else lists layers.
LAYER_TYPES: dict[str, LayerType] = {}


def layer_type(cls: type | None = None, *, config: Callable[[nn.Module], dict] | None = None):
    """Register a layer class (as a decorator, with its ``config`` method) or a PyTorch layer class
    with a ``config`` function that checks and describes it."""
    def register(cls):
        LAYER_TYPES[cls.__name__] = LayerType(cls, config or cls.config)
        return cls
    return register if cls is None else register(cls)


def layer_config(layer: nn.Module) -> tuple[str, dict]:
    """The registered type name of ``layer`` and its config; :class:`ModelFileError` if it is not a
    supported layer or is configured in a way bnn-hw does not support."""
    for name, kind in LAYER_TYPES.items():
        if type(layer) is kind.cls:
            return name, kind.config(layer)
    raise ModelFileError(f"layer {type(layer).__name__} is not supported: bnn-hw supports {supported_layers()}")


def supported_layers() -> str:
    """The supported layer types, for error messages."""
    return ", ".join(LAYER_TYPES)


class _SignSTE(torch.autograd.Function):
    """sign with the straight-through estimator: gradient passes where ``|x| <= 1``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class _SignApprox(_SignSTE):
    """sign (same forward) with Bi-Real Net's ApproxSign gradient: ``2 - 2|x|`` inside ``(-1, 1)``."""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.clamp(2 - 2 * x.abs(), min=0)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """+-1 sign (``sign(0) = +1``) with a straight-through (clamp) gradient."""
    return _SignSTE.apply(x)


def sign_approx(x: torch.Tensor) -> torch.Tensor:
    """+-1 sign (``sign(0) = +1``) with Bi-Real Net's ApproxSign gradient."""
    return _SignApprox.apply(x)


def binarize(w: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """Binary weights: ``+1`` where the latent weight is ``>= 0``, else ``-1`` (STE gradient).

    With a ``temperature`` (progressive binarization, for training only) the weights are
    ``tanh(w / temperature)`` instead: soft at a high temperature, the sign as it goes to 0.
    """
    if temperature is not None:
        return torch.tanh(w / temperature)
    return sign_ste(w)


class _BinaryWeights(nn.Module):
    """A layer with latent weights that are binarized in the forward pass.

    ``temperature`` (default None) makes training binarize progressively (:func:`binarize`); the
    training loop lowers it on a schedule and resets it to None. Eval mode always uses the sign, so
    the saved model is exactly binary whatever the temperature.
    """

    temperature: float | None = None

    #: What the ``scale`` argument of a binary layer may be: no scale, a learned one per output
    #: channel, or Bi-Real Net's magnitude-aware one (the mean absolute latent weight per output channel).
    SCALES = (False, True, "magnitude")

    def _init_scale(self, scale, channels: int) -> None:
        if not any(scale is s or (isinstance(s, str) and scale == s) for s in self.SCALES):
            raise ValueError(f"scale must be one of {self.SCALES}, not {scale!r}")
        self.scale_mode = scale
        self.scale = nn.Parameter(torch.ones(channels)) if scale is True else None

    def binary_weight(self) -> torch.Tensor:
        return binarize(self.weight, self.temperature if self.training else None)

    def output_scale(self) -> torch.Tensor | None:
        """The per-output-channel factor applied to the exact integer products, or None.

        ``scale="magnitude"`` gives ``mean(|W|)`` over each output channel's latent weights, detached:
        the forward pass is Bi-Real Net's ``mean(|W|) * sign(W)`` and the weights' gradient is the
        sign's straight-through gradient times that magnitude (the magnitude-aware gradient).
        """
        if self.scale_mode == "magnitude":
            return self.weight.detach().abs().mean(dim=tuple(range(1, self.weight.dim())))
        return self.scale


@layer_type
class ImageInput(nn.Module):
    """Declares the input of a convolutional model: ``(batch, channels, height, width)``.

    A convolutional network works on any image size, but its hardware is built for one; this first
    layer records that size (and checks it in ``forward``, passing the input through unchanged).
    """

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        if min(channels, height, width) < 1:
            raise ValueError(f"ImageInput sizes must be positive, not ({channels}, {height}, {width})")
        self.channels, self.height, self.width = int(channels), int(height), int(width)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.channels, self.height, self.width

    def config(self) -> dict:
        return {"channels": self.channels, "height": self.height, "width": self.width}

    def forward(self, x):
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expected images of shape (batch, {self.channels}, {self.height}, "
                             f"{self.width}), got {tuple(x.shape)}")
        return x

    def extra_repr(self):
        return f"channels={self.channels}, height={self.height}, width={self.width}"


@layer_type
class Thermometer(nn.Module):
    """Thermometer-encode 8-bit pixels into bits.

    Input: ``(batch, features)`` pixel values in ``0..255`` (any float or integer dtype).
    Output: ``(batch, features * k)`` values in ``{-1, +1}``; element ``i * k + j`` is
    ``+1`` iff ``pixel[i] >= thresholds[j]`` (channels-last: each pixel's k bits are adjacent).

    Images ``(batch, channels, height, width)`` give ``(batch, channels * k, height, width)``:
    channel ``c * k + j`` is ``+1`` iff ``pixel[c] >= thresholds[j]``.
    """

    def __init__(self, thresholds):
        super().__init__()
        thresholds = [int(t) for t in thresholds]
        if not thresholds:
            raise ValueError("Thermometer needs at least one threshold")
        if any(not 1 <= t <= 255 for t in thresholds) or thresholds != sorted(set(thresholds)):
            raise ValueError(f"Thermometer thresholds must be strictly increasing integers in 1..255, "
                             f"not {thresholds}")
        self.thresholds = thresholds
        self.register_buffer("_levels", torch.tensor(thresholds, dtype=torch.float32), persistent=False)

    def config(self) -> dict:
        return {"thresholds": list(self.thresholds)}

    def forward(self, x):
        if x.dim() == 4:
            bits = torch.where(x.to(torch.float32).unsqueeze(2) >= self._levels[:, None, None], 1.0, -1.0)
            return bits.flatten(1, 2)
        x = x.to(torch.float32).unsqueeze(-1)
        bits = torch.where(x >= self._levels, 1.0, -1.0)
        return bits.flatten(-2)

    def extra_repr(self):
        return f"thresholds={self.thresholds}"


@layer_type
class BinaryLinear(_BinaryWeights):
    """Fully connected layer with binary weights and binary (+-1) inputs.

    ``y = (x @ sign(W).T) * scale`` where ``scale`` (per output channel) is learned with
    ``scale=True``, the mean absolute latent weight with ``scale="magnitude"``
    (:meth:`output_scale`), and absent with ``scale=False``. The product is computed first, so
    ``x @ sign(W).T`` is an exact integer.
    """

    def __init__(self, in_features: int, out_features: int, scale: bool | str = False):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"BinaryLinear sizes must be positive, not ({in_features}, {out_features})")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1) * 1e-2)
        self._init_scale(scale, out_features)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features, "scale": self.scale_mode}

    def forward(self, x):
        y = F.linear(x, self.binary_weight())
        scale = self.output_scale()
        return y if scale is None else y * scale

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale_mode!r}"


#: Padding values a :class:`BinaryConv2d` may declare: -1 and +1 are binary values (free in
#: hardware); 0 is true zero padding (border outputs see fewer inputs, corrected exactly).
PAD_VALUES = (-1, 0, 1)


@layer_type
class BinaryConv2d(_BinaryWeights):
    """2-D convolution with binary weights on binary (+-1) inputs.

    ``y = conv2d(pad(x, padding, pad_value), sign(W), stride, groups) * scale``, ``scale`` per
    output channel as :class:`BinaryLinear` has it (learned, magnitude-aware or none). ``pad_value`` is what the border positions hold:
    -1 or +1 (binary values, so every output is a plain binary dot product) or 0 (zero padding).
    With ``padding_mode="replicate"`` they hold the nearest edge pixel instead (BoolNet's padding:
    binary, and no constant border), and ``pad_value`` is not used.
    The product is computed before the scale, so it is an exact integer.
    """

    PADDING_MODES = ("constant", "replicate")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, pad_value: int = -1, groups: int = 1, scale: bool | str = False,
                 padding_mode: str = "constant"):
        super().__init__()
        if min(in_channels, out_channels, kernel_size, stride, groups) < 1 or padding < 0:
            raise ValueError("BinaryConv2d sizes must be positive (padding non-negative)")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if pad_value not in PAD_VALUES:
            raise ValueError(f"pad_value must be one of {PAD_VALUES}, not {pad_value!r}")
        if padding_mode not in self.PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {self.PADDING_MODES}, not {padding_mode!r}")
        if padding_mode == "replicate" and padding >= kernel_size:
            raise ValueError(f"replicate padding needs padding < kernel_size, not {padding} >= {kernel_size}")
        self.padding_mode = padding_mode
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        self.pad_value, self.groups = int(pad_value), int(groups)
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, k, k).uniform_(-1, 1) * 1e-2)
        self._init_scale(scale, out_channels)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "pad_value": self.pad_value, "groups": self.groups, "scale": self.scale_mode,
                "padding_mode": self.padding_mode}

    def forward(self, x):
        p = self.padding
        if p and self.padding_mode == "replicate":
            x = F.pad(x, (p, p, p, p), mode="replicate")
            p = 0
        elif p and self.pad_value:
            x = F.pad(x, (p, p, p, p), value=float(self.pad_value))
            p = 0
        y = F.conv2d(x, self.binary_weight(), stride=self.stride, padding=p, groups=self.groups)
        scale = self.output_scale()
        return y if scale is None else y * scale[:, None, None]

    def extra_repr(self):
        c = self.config()
        return ", ".join(f"{k}={v}" for k, v in c.items())


@layer_type
class PixelConv2d(BinaryConv2d):
    """The first convolution of a network on 8-bit pixels: binary weights, exact integer sums.

    Input: pixel values ``0..255`` (any float dtype) right after :class:`ImageInput`. The border is
    zero padded (a pixel of value 0). ``y = conv2d(x, sign(W)) * scale``; every sum of at most
    ``255 * 2**16`` terms is exact in float32.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, scale: bool | str = False):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, pad_value=0, groups=1,
                         scale=scale)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "scale": self.scale_mode}


@layer_type
class Sign(nn.Module):
    """Binary activation ``x >= 0 -> +1, else -1``.

    ``grad="ste"`` passes the gradient where ``|x| <= 1`` (BinaryNet); ``grad="approx"`` uses
    Bi-Real Net's ApproxSign gradient. Both have the same forward.
    """

    GRADIENTS = {"ste": sign_ste, "approx": sign_approx}

    def __init__(self, grad: str = "ste"):
        super().__init__()
        if grad not in self.GRADIENTS:
            raise ValueError(f"Sign grad must be one of {sorted(self.GRADIENTS)}, not {grad!r}")
        self.grad = grad

    def config(self) -> dict:
        return {"grad": self.grad}

    def forward(self, x):
        return self.GRADIENTS[self.grad](x)

    def extra_repr(self):
        return f"grad={self.grad!r}"


#: BoolNet's four slice offsets (uniform in the BatchNorm's unit range).
BOOLNET_OFFSETS = (-2 / 3, -1 / 3, 1 / 3, 2 / 3)


@layer_type
class MultiSliceSign(nn.Module):
    """BoolNet's multi-slice binarization: ``K`` signs of each channel at sorted ``offsets``.

    Input ``(batch, C, ...)``; output ``(batch, C * K, ...)`` where channel ``c * K + j`` is
    ``sign(x[c] - offsets[j])`` (``+1`` where ``x[c] - offsets[j] >= 0``, computed in float32): a
    K-bit thermometer code of the channel that keeps more of it than one sign. Each slice's gradient
    is the straight-through or ApproxSign gradient of :class:`Sign`, around its offset.
    """

    def __init__(self, offsets=BOOLNET_OFFSETS, grad: str = "ste"):
        super().__init__()
        offsets = [float(torch.tensor(float(o), dtype=torch.float32)) for o in offsets]
        if not offsets or offsets != sorted(set(offsets)):
            raise ValueError(f"MultiSliceSign offsets must be strictly increasing, not {offsets}")
        if grad not in Sign.GRADIENTS:
            raise ValueError(f"MultiSliceSign grad must be one of {sorted(Sign.GRADIENTS)}, not {grad!r}")
        self.offsets, self.grad = offsets, grad
        self.register_buffer("_offsets", torch.tensor(offsets, dtype=torch.float32), persistent=False)

    def config(self) -> dict:
        return {"offsets": list(self.offsets), "grad": self.grad}

    def forward(self, x):
        shape = (1, 1, -1) + (1,) * (x.dim() - 2)
        bits = Sign.GRADIENTS[self.grad](x.unsqueeze(2) - self._offsets.view(shape))
        return bits.flatten(1, 2)

    def extra_repr(self):
        return f"offsets={self.offsets}, grad={self.grad!r}"


@layer_type
class ChannelShuffle(nn.Module):
    """Channel shuffle: ``(batch, C, ...)`` viewed as ``(batch, groups, C / groups, ...)``, the two
    channel axes swapped. Output channel ``i * groups + g`` is input channel ``g * C / groups + i``."""

    def __init__(self, groups: int):
        super().__init__()
        if int(groups) < 1:
            raise ValueError(f"ChannelShuffle groups must be positive, not {groups}")
        self.groups = int(groups)

    def config(self) -> dict:
        return {"groups": self.groups}

    def forward(self, x):
        if x.shape[1] % self.groups:
            raise ValueError(f"ChannelShuffle groups={self.groups} must divide the {x.shape[1]} channels")
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)

    def extra_repr(self):
        return f"groups={self.groups}"


@layer_type
class LogicShortcut(nn.Sequential):
    """BoolNet's logic shortcut around a body of layers: ``op(body(x), x)`` on +-1 values.

    ``op="xnor"`` is the product ``body(x) * x``; ``op="or"`` is
    ``2 * clamp((body(x) + 1) / 2 + (x + 1) / 2, 0, 1) - 1`` (the maximum). Both are exact on +-1 values
    and differentiable for training. The body is a sequence of layers (a binary convolution,
    BatchNorm, Sign, ...) whose output has the input's shape; its layers are ``self[0]``, ``self[1]``...
    In hardware the input is forked into the body and a FIFO, and the two meet in a bitwise join.
    """

    OPS = ("xnor", "or")

    def __init__(self, *layers, op: str = "xnor"):
        super().__init__(*layers)
        if op not in self.OPS:
            raise ValueError(f"LogicShortcut op must be one of {self.OPS}, not {op!r}")
        if not layers:
            raise ValueError("LogicShortcut needs at least one layer in its body")
        self.op = op

    def config(self) -> dict:
        return {"op": self.op}

    def forward(self, x):
        y = super().forward(x)
        if self.op == "xnor":
            return y * x
        return 2 * torch.clamp((y + 1) / 2 + (x + 1) / 2, 0, 1) - 1

    def extra_repr(self):
        return f"op={self.op!r}"


@layer_type
class ConcatShortcut(nn.Sequential):
    """``torch.cat([x, body(x)], dim=1)``: the input's channels, then those the body computes.

    The body (``self[0]``, ``self[1]``, ...) must keep the image size and end in bits (a sign). In
    hardware the input is forked into the body and a FIFO, and the two are put side by side.
    """

    def __init__(self, *layers):
        super().__init__(*layers)
        if not layers:
            raise ValueError("ConcatShortcut needs at least one layer in its body")

    def config(self) -> dict:
        return {}

    def forward(self, x):
        return torch.cat([x, super().forward(x)], dim=1)


class _RoundSTE(torch.autograd.Function):
    """``clamp(round(x * 2**F), lo, hi) / 2**F``; the gradient passes where ``x`` is inside the range."""

    @staticmethod
    def forward(ctx, x, frac_bits: int, lo: int, hi: int):
        scale = float(2 ** frac_bits)
        ctx.save_for_backward(x)
        ctx.range = (lo / scale, hi / scale)
        return torch.clamp(torch.round(x * scale), lo, hi) / scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.range
        return grad * ((x >= lo) & (x <= hi)).to(grad.dtype), None, None, None


@layer_type
class FixedPoint(nn.Module):
    """Round to signed fixed point: ``bits``-bit two's complement integers with ``frac_bits`` of them
    after the binary point, so values ``k / 2**frac_bits`` for ``k`` in ``-2**(bits-1) .. 2**(bits-1)-1``.

    ``y = clamp(round(x * 2**frac_bits), ...) / 2**frac_bits`` in float32 (``torch.round``: halves to
    even), exact for ``bits <= 24``; the gradient is straight-through inside the range. It puts a
    Bi-Real block's BatchNorm output on the grid the hardware adds on: the compiler folds the
    convolution, BatchNorm and this rounding into one table per channel.
    """

    def __init__(self, frac_bits: int, bits: int):
        super().__init__()
        if not (isinstance(frac_bits, int) and isinstance(bits, int)) or frac_bits < 0 or not 2 <= bits <= 24 \
                or frac_bits >= bits:
            raise ValueError(f"FixedPoint needs 2 <= bits <= 24 and 0 <= frac_bits < bits, "
                             f"not frac_bits={frac_bits!r}, bits={bits!r}")
        self.frac_bits, self.bits = frac_bits, bits

    @property
    def range(self) -> tuple[int, int]:
        """The smallest and largest integer ``k`` (the value is ``k / 2**frac_bits``)."""
        return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1

    def config(self) -> dict:
        return {"frac_bits": self.frac_bits, "bits": self.bits}

    def forward(self, x):
        return _RoundSTE.apply(x, self.frac_bits, *self.range)

    def extra_repr(self):
        return f"frac_bits={self.frac_bits}, bits={self.bits}"


@layer_type
class ShortcutBranch(nn.Sequential):
    """The layers on the shortcut of a :class:`RealShortcut`, as its first layer: Bi-Real Net's
    downsampling shortcut ``AvgPool2d(2)``, :class:`FixedPointConv2d`, ``BatchNorm2d``,
    :class:`FixedPoint`, so that its sum with the body's stride-2 result is exact."""

    def __init__(self, *layers):
        super().__init__(*layers)
        if not layers:
            raise ValueError("ShortcutBranch needs at least one layer")

    def config(self) -> dict:
        return {}


@layer_type
class RealShortcut(nn.Sequential):
    """Bi-Real Net's real-valued shortcut around a body of layers: ``body(x) + x``.

    ``x`` is a fixed-point feature map (a :class:`FixedPoint` made it, or an earlier block) and the
    body typically ``Sign(grad="approx")``, ``BinaryConv2d(..., scale="magnitude")``, BatchNorm and
    a :class:`FixedPoint` with the same ``frac_bits``, so the sum is exact in float32. In hardware the
    sum is a fixed-point adder whose width the compiler chooses so it never overflows.

    With a :class:`ShortcutBranch` as the first layer the block computes ``body(x) + branch(x)``
    (the body is the other layers): Bi-Real's downsampling block, where the body convolves with
    stride 2 and the branch average-pools and convolves 1x1 to the body's channels.
    """

    def __init__(self, *layers):
        super().__init__(*layers)
        body = layers[1:] if layers and isinstance(layers[0], ShortcutBranch) else layers
        if not body:
            raise ValueError("RealShortcut needs at least one layer in its body")
        if any(isinstance(layer, ShortcutBranch) for layer in body):
            raise ValueError("a ShortcutBranch must be the first layer of its RealShortcut")

    @property
    def branch(self) -> ShortcutBranch | None:
        """The shortcut's layers, or None for the identity."""
        return self[0] if isinstance(self[0], ShortcutBranch) else None

    @property
    def body(self) -> list:
        return list(self)[1:] if self.branch is not None else list(self)

    def config(self) -> dict:
        return {}

    def forward(self, x):
        y = x
        for layer in self.body:
            y = layer(y)
        return y + (x if self.branch is None else self.branch(x))


@layer_type
class FixedPointConv2d(nn.Module):
    """A real-valued 1x1 convolution (no bias) whose weights are rounded to signed fixed point:
    ``weight_bits``-bit integers ``k`` with ``weight_frac_bits`` of them after the binary point
    (``k / 2**weight_frac_bits``), straight-through in training (as :class:`FixedPoint`).

    On fixed-point inputs every product and partial sum is then a multiple of one grid step, exact in
    float32 while the sums stay below ``2**24`` steps (the compiler checks), so hardware integer
    multiply-adds reproduce it bit for bit. Bi-Real Net's downsampling shortcut uses it after
    ``AvgPool2d(2)``.
    """

    def __init__(self, in_channels: int, out_channels: int, weight_bits: int = 4, weight_frac_bits: int = 2):
        super().__init__()
        if min(in_channels, out_channels) < 1:
            raise ValueError("FixedPointConv2d needs positive channel counts")
        FixedPoint(weight_frac_bits, weight_bits)  # the same argument checks
        if weight_bits > 16:
            raise ValueError(f"FixedPointConv2d weights may have at most 16 bits, not {weight_bits}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.weight_bits, self.weight_frac_bits = int(weight_bits), int(weight_frac_bits)
        # across half the grid's range, so the rounding starts with many distinct weights (the
        # BatchNorm after the layer normalizes the scale)
        bound = 2.0 ** (self.weight_bits - 2 - self.weight_frac_bits)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1).uniform_(-bound, bound))

    @property
    def weight_range(self) -> tuple[int, int]:
        """The smallest and largest weight integer ``k``."""
        return -(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1

    def fixed_weight(self) -> torch.Tensor:
        """The weights as used: on the fixed-point grid (float32)."""
        return _RoundSTE.apply(self.weight, self.weight_frac_bits, *self.weight_range)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "weight_bits": self.weight_bits, "weight_frac_bits": self.weight_frac_bits}

    def forward(self, x):
        return F.conv2d(x, self.fixed_weight())

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items())


# -- PyTorch layers that bnn-hw accepts as they are -------------------------------------------------

def _batchnorm_config(layer: nn.modules.batchnorm._BatchNorm) -> dict:
    if not (layer.affine and layer.track_running_stats):
        raise ModelFileError(f"{type(layer).__name__} must have affine=True and track_running_stats=True "
                             f"to be saved")
    eps, momentum = float(layer.eps), layer.momentum if layer.momentum is None else float(layer.momentum)
    if not 0 <= eps < float("inf"):   # torch's batch_norm rejects a negative eps only when it runs
        raise ModelFileError(f"{type(layer).__name__} eps must be a non-negative number, not {layer.eps!r}")
    return {"num_features": layer.num_features, "eps": eps, "momentum": momentum}


def _single(value, what: str, layer: str) -> int:
    """An int from an int or a square pair (torch accepts both for pooling sizes)."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ModelFileError(f"{layer} {what} must be square, not {tuple(value)}")
        value = value[0]
    return int(value)


def _pool_config(layer: nn.MaxPool2d | nn.AvgPool2d) -> dict:
    """A non-overlapping pool's size; anything else (padding, dilation, ceil mode, indices, a divisor
    override) is rejected."""
    name = type(layer).__name__
    kernel, stride = _single(layer.kernel_size, "kernel_size", name), _single(layer.stride, "stride", name)
    extras = (_single(layer.dilation, "dilation", name) != 1 or layer.return_indices
              if isinstance(layer, nn.MaxPool2d) else layer.divisor_override is not None)
    if kernel != stride or _single(layer.padding, "padding", name) != 0 or layer.ceil_mode or extras:
        raise ModelFileError(f"{name} must be non-overlapping (stride = kernel_size) without padding, "
                             f"ceil_mode, dilation, indices or a divisor override")
    return {"kernel_size": kernel, "stride": stride}


def _flatten_config(layer: nn.Flatten) -> dict:
    if (layer.start_dim, layer.end_dim) != (1, -1):
        raise ModelFileError("Flatten must flatten all dimensions after the batch (start_dim=1, end_dim=-1)")
    return {}


for _cls, _config in ((nn.BatchNorm1d, _batchnorm_config), (nn.BatchNorm2d, _batchnorm_config),
                      (nn.MaxPool2d, _pool_config), (nn.AvgPool2d, _pool_config), (nn.Flatten, _flatten_config),
                      # eval-mode no-ops that trained models often keep
                      (nn.Dropout, lambda layer: {"p": float(layer.p)}), (nn.Identity, lambda layer: {})):
    layer_type(_cls, config=_config)
