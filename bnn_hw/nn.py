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
  FINN's CNV does), the alternative to a Thermometer, or with B-bit integer weights (BNext's).
- :class:`Sign`: binary activation with a straight-through (clamp) or Bi-Real ApproxSign gradient.
- :class:`MultiSliceSign`: BoolNet's multi-slice binarization, K signs per channel at sorted offsets
  (a K-bit thermometer code of the channel).
- :class:`ChannelShuffle`: ShuffleNet's channel shuffle (after a multi-slice sign, it puts the
  slices first for a convolution with one group per slice).
- :class:`ConcatShortcut`: the input's channels followed by those a body of layers computes from it,
  or two branches' channels side by side (a :class:`ShortcutBranch` first).
- :class:`LogicShortcut`: BoolNet's logic shortcut, ``XNOR`` or ``OR`` of a body of layers' bits
  with the bits the body started from.
- :class:`FixedPoint`: rounds real values to a signed fixed-point grid (Bi-Real's real-valued feature
  maps, as the hardware keeps them).
- :class:`LearnableBias`: a learned per-channel shift before a sign (BNext, ReActNet).
- :class:`RealShortcut`: Bi-Real Net's real-valued shortcut, ``body(x) + x`` on fixed-point values,
  or ``body(x) + branch(x)`` with a :class:`ShortcutBranch` (Bi-Real's downsampling shortcut).
- :class:`RecouplingShortcut`: BNext's Info-Recoupling, ``s * x + (1 - s) * body(x)`` with a learned
  per-channel mix ``s`` on a fixed-point grid.
- :class:`ProductShortcut`: BNext's ELM-attention product, ``body(x) * x`` on fixed-point values;
  with a body that pools to one pixel (:class:`GlobalSumPool` first), squeeze-and-excitation.
- :class:`GlobalSumPool`: each channel's sum over the image (an exact squeeze).
- :class:`FixedPointConv2d`: a real 1x1 convolution with fixed-point weights (the downsampling
  shortcut's), exact on fixed-point inputs.
- :class:`FixedPointLinear`: a last layer with 8-bit (``weight_bits``) integer weights on +-1 inputs,
  integer scores.
- :class:`SparseBinaryLinear`, :class:`SparseBinaryConv2d`: weights in a learned two-value domain
  ``{alpha, beta}`` (``tau * sign(w) + phi`` on a fixed-point grid), with a penalty that keeps the
  fraction of beta weights near a target (sparse binary networks; ``alpha = 0`` prunes).
- :class:`LogicLayer`: learned two-input logic gates (differentiable logic-gate networks): in
  training a softmax over (input pair, function) slots mixes the functions' multilinear forms; in
  eval mode each gate is its argmax function on bits (:meth:`LogicLayer.netlist`).
- :class:`LogicConv2d`: the compact logic convolution, a small tree of gates per output channel on
  learned window positions, at every pixel (:meth:`LogicConv2d.tree`).
- :class:`GroupSum`: class scores as the popcounts of consecutive groups of bits.
- ``torch.nn.BatchNorm1d``, ``BatchNorm2d``, ``PReLU``, ``ReLU``, ``Sigmoid``, ``MaxPool2d``, ``AvgPool2d`` (both
  non-overlapping: stride = kernel) and ``Flatten`` are used as they are; ``Dropout`` and ``Identity`` are accepted and
  vanish (they do nothing in eval mode). Max-pool on +-1 values is a logical OR of
  the bits; average pooling of fixed-point values is their sum on a finer grid.

Each bnn-hw layer describes itself with :meth:`config` and is rebuilt with ``cls(**config)``; this is
what :func:`bnn_hw.save` writes, so no code is ever pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .errors import ModelFileError

__all__ = ["ImageInput", "Thermometer", "BinaryLinear", "BinaryConv2d", "PixelConv2d", "Sign", "MultiSliceSign",
           "Threshold", "ChannelShuffle", "LogicShortcut", "ConcatShortcut", "FixedPoint", "LearnableBias", "RealShortcut",
           "ShortcutBranch", "RecouplingShortcut", "ProductShortcut", "GlobalSumPool",
           "FixedPointConv2d", "FixedPointLinear", "binarize", "sign_ste", "sign_approx", "PAD_VALUES", "BOOLNET_OFFSETS", "LAYER_TYPES",
           "LayerType", "layer_type", "layer_kind", "layer_config", "supported_layers",
           "SparseBinaryLinear", "SparseBinaryConv2d",
           "LogicLayer", "LogicConv2d", "GroupSum", "GATE_FUNCTIONS", "gate_truth_table"]


@dataclass(frozen=True)
class LayerType:
    """A layer a model may hold: its class and the function giving its constructor arguments
    (``cls(*children, **config(layer))`` rebuilds it; a container's children are its layers)."""

    cls: type
    config: Callable[[nn.Module], dict]
    #: Checks a file's tensors for the layer beyond their shapes (which the model file checks for
    #: every layer): ``check_state(layer, state)`` with the layer as its config built it and its own
    #: tensors by local name (``"logits"``, not ``"3.logits"``), before they are loaded; raises
    #: ``ValueError`` with one line (index out of range, wrong dtype, ...). None: nothing more to check.
    check_state: Callable[[nn.Module, dict], None] | None = None

    @property
    def container(self) -> bool:
        """It holds a body of layers."""
        return issubclass(self.cls, nn.Sequential)


#: Every layer type a model may hold, by name: bnn-hw's own layers (registered where they are
#: defined, by :func:`layer_type`) and the PyTorch layers it accepts (at the end of this module).
#: The model file and the compiler's frontend read this; nothing else lists layers.
LAYER_TYPES: dict[str, LayerType] = {}


def layer_type(cls: type | None = None, *, config: Callable[[nn.Module], dict] | None = None,
               check_state: bool | Callable[[nn.Module, dict], None] = False):
    """Register a layer class (as a decorator, with its ``config`` method) or a PyTorch layer class
    with a ``config`` function that checks and describes it.

    ``check_state`` declares the :attr:`LayerType.check_state` hook: a function, or True for the
    class's own ``check_state(self, state)`` method (``@layer_type(check_state=True)``)."""
    def register(cls):
        check = cls.check_state if check_state is True else (check_state or None)
        LAYER_TYPES[cls.__name__] = LayerType(cls, config or cls.config, check)
        return cls
    return register if cls is None else register(cls)


def layer_kind(layer: nn.Module) -> LayerType | None:
    """The registered type of ``layer`` (its exact class), or None."""
    for kind in LAYER_TYPES.values():
        if type(layer) is kind.cls:
            return kind
    return None


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
    """The first convolution of a network on 8-bit pixels, with exact integer sums.

    Input: pixel values ``0..255`` (any float dtype) right after :class:`ImageInput`. The border is
    zero padded (a pixel of value 0). With ``weight_bits=1`` (the default) the weights are binary:
    ``y = conv2d(x, sign(W)) * scale``. With ``weight_bits=B > 1`` they are ``B``-bit integers
    ``k = clamp(round(w * 2**(B-1)), -2**(B-1), 2**(B-1) - 1)`` of the latent ``w`` (straight-through
    inside the range, as :class:`FixedPointLinear`), BNext's 8-bit first layer, and there is no scale
    (the BatchNorm after it normalizes). Either way every sum is an integer below ``2**24``, exact in
    float32 (the layer refuses a window too large for that).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, scale: bool | str = False, weight_bits: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, pad_value=0, groups=1,
                         scale=scale)
        if not isinstance(weight_bits, int) or not 1 <= weight_bits <= 16:
            raise ValueError(f"PixelConv2d weight_bits must be an integer in 1..16, not {weight_bits!r}")
        if weight_bits > 1 and scale is not False:
            raise ValueError("a PixelConv2d with integer weights (weight_bits > 1) takes no scale")
        window = self.in_channels * self.kernel_size ** 2
        if window * 255 << max(0, weight_bits - 1) >= 1 << 24:
            raise ValueError(f"PixelConv2d with a window of {window} pixels and {weight_bits}-bit weights could "
                             f"sum past 2**24, where float32 stops being exact: use fewer weight bits")
        self.weight_bits = weight_bits
        if weight_bits > 1:   # across half the integer range, so that rounding starts with distinct weights
            nn.init.uniform_(self.weight, -0.5, 0.5)

    @property
    def weight_range(self) -> tuple[int, int]:
        """The smallest and largest weight: -1 and +1 for binary weights, else the integers' range."""
        return (-1, 1) if self.weight_bits == 1 else _signed_range(self.weight_bits)

    def binary_weight(self) -> torch.Tensor:
        """The weights as used: +-1 (binary), or the integers ``k`` (float32, straight-through)."""
        if self.weight_bits == 1:
            return super().binary_weight()
        return _integer_weights(self.weight, self.weight_bits)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "scale": self.scale_mode, "weight_bits": self.weight_bits}


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


@layer_type(check_state=True)
class Threshold(nn.Module):
    """Per-channel integer thresholds: the folded form of a BatchNorm and sign after integer sums.

    Input ``(batch, C)`` or ``(batch, C, H, W)`` integer values (in any float dtype); output ``+1``
    where ``(x >= thresholds[c]) != invert[c]``, else ``-1``. The thresholds are integers of magnitude
    at most ``2**24``, so the comparison is exact in float32. The layer has no gradient: it holds a
    model whose activations were folded elsewhere (an imported QONNX graph), not one being trained.
    """

    #: The largest threshold magnitude (float32 holds every integer up to it exactly).
    LIMIT = 1 << 24

    def __init__(self, channels: int):
        super().__init__()
        self.channels = _check_size("Threshold channels", channels)
        self.register_buffer("thresholds", torch.zeros(self.channels, dtype=torch.int64))
        self.register_buffer("invert", torch.zeros(self.channels, dtype=torch.bool))

    def config(self) -> dict:
        return {"channels": self.channels}

    def check_state(self, state: dict) -> None:
        """The thresholds are int64 within +-2**24, ``invert`` is bool."""
        thresholds = _check_tensor(state, "thresholds", torch.int64)
        _check_tensor(state, "invert", torch.bool)
        if thresholds.numel() and int(thresholds.abs().max()) > self.LIMIT:
            raise ValueError(f"thresholds must lie within +-2**24 (exact in float32), not "
                             f"{int(thresholds.abs().max())}")

    def forward(self, x):
        if x.shape[1] != self.channels:
            raise ValueError(f"Threshold has {self.channels} channels but its input has {x.shape[1]}")
        shape = (1, -1) + (1,) * (x.dim() - 2)
        bits = (x.to(torch.float32) >= self.thresholds.to(torch.float32).view(shape)) != self.invert.view(shape)
        return torch.where(bits, 1.0, -1.0)

    def extra_repr(self):
        return f"channels={self.channels}"


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


def _signed_range(bits: int) -> tuple[int, int]:
    """The smallest and largest ``bits``-bit two's complement integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _integer_weights(latent: torch.Tensor, bits: int) -> torch.Tensor:
    """``bits``-bit integer weights ``clamp(round(w * 2**(bits-1)))`` of latent weights ``w`` (float32,
    straight-through inside the range): the 8-bit first and last layers' weights."""
    return _RoundSTE.apply(latent, bits - 1, *_signed_range(bits)) * 2.0 ** (bits - 1)


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
        return _signed_range(self.bits)

    def config(self) -> dict:
        return {"frac_bits": self.frac_bits, "bits": self.bits}

    def forward(self, x):
        return _RoundSTE.apply(x, self.frac_bits, *self.range)

    def extra_repr(self):
        return f"frac_bits={self.frac_bits}, bits={self.bits}"


@layer_type
class LearnableBias(nn.Module):
    """A learned per-channel bias, ``x + bias[c]``: the shift that BNext (after ReActNet) puts before
    each sign. Input ``(batch, C)`` or ``(batch, C, H, W)``.

    Before a :class:`Sign` it moves each channel's threshold: the compiler folds it into the
    thresholds of the binary layer before it (with that layer's BatchNorm) or, on a fixed-point
    feature map, into one integer threshold per channel (``k >= t[c]`` instead of ``k >= 0``), both
    evaluated with the model's own float32 addition.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = _check_size("LearnableBias channels", channels)
        self.bias = nn.Parameter(torch.zeros(self.channels))

    def config(self) -> dict:
        return {"channels": self.channels}

    def forward(self, x):
        if x.shape[1] != self.channels:
            raise ValueError(f"LearnableBias has {self.channels} channels but its input has {x.shape[1]}")
        return x + self.bias.view((1, -1) + (1,) * (x.dim() - 2))

    def extra_repr(self):
        return f"channels={self.channels}"


@layer_type
class ShortcutBranch(nn.Sequential):
    """The layers on the shortcut of a :class:`RealShortcut` (or a subclass) or a :class:`ConcatShortcut`,
    as its first layer: for example Bi-Real Net's downsampling shortcut ``AvgPool2d(2)``, :class:`FixedPointConv2d`, ``BatchNorm2d``,
    :class:`FixedPoint`, so that its sum with the body's stride-2 result is exact."""

    def __init__(self, *layers):
        super().__init__(*layers)
        if not layers:
            raise ValueError("ShortcutBranch needs at least one layer")

    def config(self) -> dict:
        return {}


class _ShortcutBlock(nn.Sequential):
    """A block ``join(body(x), x)`` around a body of layers, or ``join(body(x), branch(x))`` with a
    :class:`ShortcutBranch` as its first layer (the shortcut computes too). Subclasses give the join."""

    def __init__(self, *layers):
        super().__init__(*layers)
        name = type(self).__name__
        body = layers[1:] if layers and isinstance(layers[0], ShortcutBranch) else layers
        if not body:
            raise ValueError(f"{name} needs at least one layer in its body")
        if any(isinstance(layer, ShortcutBranch) for layer in body):
            raise ValueError(f"a ShortcutBranch must be the first layer of its {name}")

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
        return self.join(y, x if self.branch is None else self.branch(x))

    def join(self, body, shortcut):
        """The block's result from its body's and its shortcut's values."""
        raise NotImplementedError


@layer_type
class ConcatShortcut(_ShortcutBlock):
    """``torch.cat([x, body(x)], dim=1)``: the input's channels, then those the body computes; with a
    :class:`ShortcutBranch` as the first layer ``torch.cat([branch(x), body(x)], dim=1)``, two branches
    side by side (BNext's two 1x1 convolutions where the channels double).

    Both sides keep the image size and end in bits (a sign) or in fixed-point values on one grid (a
    :class:`FixedPoint` with the same ``frac_bits``). In hardware the input is forked into the body
    and a FIFO (after the branch), and the two are put side by side.
    """

    def join(self, body, shortcut):
        return torch.cat([shortcut, body], dim=1)


@layer_type
class GlobalSumPool(nn.Module):
    """The sum of each channel over the whole image, ``x.sum((2, 3), keepdim=True)``: a
    ``(batch, C, 1, 1)`` result, the squeeze of squeeze-and-excitation.

    On fixed-point values the sum is exact (on the same grid, while below ``2**24`` steps), where the
    mean of a 7x7 map would be rounded: a BatchNorm after the 1x1 convolution that follows learns
    the ``1 / (H * W)`` scale, and the compiler folds it into thresholds with the rest.
    """

    def config(self) -> dict:
        return {}

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"GlobalSumPool takes images (batch, channels, height, width), not {tuple(x.shape)}")
        return x.sum(dim=(2, 3), keepdim=True)


@layer_type
class RealShortcut(_ShortcutBlock):
    """Bi-Real Net's real-valued shortcut around a body of layers: ``body(x) + x``.

    ``x`` is a fixed-point feature map (a :class:`FixedPoint` made it, or an earlier block) and the
    body typically ``Sign(grad="approx")``, ``BinaryConv2d(..., scale="magnitude")``, BatchNorm and
    a :class:`FixedPoint` with the same ``frac_bits``, so the sum is exact in float32. In hardware the
    sum is a fixed-point adder whose width the compiler chooses so it never overflows.

    With a :class:`ShortcutBranch` as the first layer the block computes ``body(x) + branch(x)``
    (the body is the other layers): Bi-Real's downsampling block, where the body convolves with
    stride 2 and the branch average-pools and convolves 1x1 to the body's channels.
    """

    def join(self, body, shortcut):
        """Their sum."""
        return body + shortcut


@layer_type
class RecouplingShortcut(RealShortcut):
    """BNext's Info-Recoupling around a body of layers: ``s * x + (1 - s) * body(x)`` with a learned
    mix ``s`` per channel in ``[0, 1]`` (or ``branch(x)`` in place of ``x``, as in
    :class:`RealShortcut`).

    ``s`` is kept on a grid of ``frac_bits`` fraction bits (``m / 2**frac_bits``, ``m`` in
    ``0 .. 2**frac_bits``, straight-through rounding of a latent parameter initialised to 1/2). On
    fixed-point inputs with ``f`` fraction bits every product and the sum are then exact in float32
    on the grid of ``f + frac_bits`` bits, as long as they stay below ``2**24`` steps (the compiler
    checks): the hardware computes ``2**frac_bits * body + m * (x - body)`` per value. A
    :class:`FixedPoint` after the block rounds it back to a coarser grid.
    """

    def __init__(self, *layers, channels: int, frac_bits: int = 4):
        super().__init__(*layers)
        self.channels = _check_size("RecouplingShortcut channels", channels)
        if not isinstance(frac_bits, int) or not 1 <= frac_bits <= 12:
            raise ValueError(f"RecouplingShortcut frac_bits must be an integer in 1..12, not {frac_bits!r}")
        self.frac_bits = frac_bits
        self.mix = nn.Parameter(torch.full((self.channels,), 0.5))

    def config(self) -> dict:
        return {"channels": self.channels, "frac_bits": self.frac_bits}

    def mix_weights(self) -> torch.Tensor:
        """``s`` per channel, on its grid: ``clamp(round(mix * 2**frac_bits), 0, 2**frac_bits) / 2**frac_bits``."""
        return _RoundSTE.apply(self.mix, self.frac_bits, 0, 1 << self.frac_bits)

    def join(self, body, shortcut):
        if body.shape[1] != self.channels:
            raise ValueError(f"RecouplingShortcut has {self.channels} channels but its body gives {body.shape[1]}")
        s = self.mix_weights().view((1, -1) + (1,) * (body.dim() - 2))
        return s * shortcut + (1 - s) * body

    def extra_repr(self):
        return f"channels={self.channels}, frac_bits={self.frac_bits}"


@layer_type
class ProductShortcut(RealShortcut):
    """BNext's ELM-attention product: ``body(x) * x`` element by element (or ``branch(x)`` in place of
    ``x``, as in :class:`RealShortcut`), on fixed-point values.

    A body that ends in one pixel per channel (a :class:`GlobalSumPool` first) scales every pixel of
    ``x`` by its channel's value: squeeze-and-excitation, ``x * gate(x)``, for example
    ``ProductShortcut(GlobalSumPool(), FixedPointConv2d(C, C // 4), BatchNorm2d(C // 4), ReLU(),
    FixedPoint(3, 6), FixedPointConv2d(C // 4, C), BatchNorm2d(C), Sigmoid(), FixedPoint(4, 6))``.

    The product of values with ``f1`` and ``f2`` fraction bits lies on the grid of ``f1 + f2`` bits
    and is exact in float32 while it stays below ``2**24`` steps (the compiler checks the widths);
    the hardware multiplies the integers. A :class:`FixedPoint` after the block rounds it back.
    """

    def join(self, body, shortcut):
        return body * shortcut


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
        return _signed_range(self.weight_bits)

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


@layer_type
class FixedPointLinear(nn.Module):
    """A fully connected layer with ``weight_bits``-bit integer weights on +-1 inputs: the
    higher-precision last layer of BNext (and of most accurate binary networks), whose outputs are
    the network's integer scores.

    The weights used are ``k = clamp(round(w * 2**(B-1)), -2**(B-1), 2**(B-1) - 1)`` of the latent
    ``w`` (straight-through inside the range), so every output is an integer sum of ``+-k``, exact in
    float32 (the layer refuses a fan-in for which it might not be). The scale of the scores does not
    change their argmax; the training loop's temperature absorbs it.
    """

    def __init__(self, in_features: int, out_features: int, weight_bits: int = 8):
        super().__init__()
        self.in_features = _check_size("FixedPointLinear in_features", in_features)
        self.out_features = _check_size("FixedPointLinear out_features", out_features)
        if not isinstance(weight_bits, int) or not 2 <= weight_bits <= 16:
            raise ValueError(f"FixedPointLinear weight_bits must be an integer in 2..16, not {weight_bits!r}")
        if self.in_features << (weight_bits - 1) >= 1 << 24:
            raise ValueError(f"FixedPointLinear({in_features}, ...) with {weight_bits}-bit weights could sum past "
                             f"2**24, where float32 stops being exact: use fewer inputs or weight bits")
        self.weight_bits = weight_bits
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features).uniform_(-0.5, 0.5))

    @property
    def weight_range(self) -> tuple[int, int]:
        """The smallest and largest integer weight."""
        return _signed_range(self.weight_bits)

    def integer_weight(self) -> torch.Tensor:
        """The integer weights as used (float32, straight-through to the latent weights)."""
        return _integer_weights(self.weight, self.weight_bits)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features, "weight_bits": self.weight_bits}

    def forward(self, x):
        return F.linear(x, self.integer_weight())

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items())


# -- Sparse binary layers: the {alpha, beta} weight domain (Schiavone, Galati and Zuluaga, 2023) -------

class _SparseWeights(_BinaryWeights):
    """Weights in a learned two-value domain ``{alpha, beta}``: ``tau * sign(w) + phi`` with the
    layer's ``tau`` and ``phi`` rounded to a signed fixed-point grid (``bits``-bit integers over
    ``2**frac_bits``, straight-through in training), so ``alpha = phi - tau`` (latent weight < 0) and
    ``beta = phi + tau`` (latent weight >= 0, the "connections").

    ``alpha = -1, beta = +1`` (``tau = 1, phi = 0``, the start) is the ordinary binary layer;
    ``alpha = 0`` a pruned one. Every weight is a multiple of ``2**-frac_bits``, so on +-1 inputs
    every partial sum is exact in float32 while ``inputs * 2**(bits - 1) < 2**24`` (checked).
    :meth:`sparsity_penalty` keeps the fraction of beta weights near an expected-connections target.
    """

    def _init_domain(self, fan_in: int, frac_bits: int, bits: int) -> None:
        FixedPoint(frac_bits, bits)   # the same argument checks
        if fan_in << (bits - 1) >= 1 << 24:
            raise ValueError(f"{fan_in} inputs with {bits}-bit tau and phi could leave float32's exact "
                             f"integers; use fewer bits")
        self.frac_bits, self.bits = int(frac_bits), int(bits)
        self.tau = nn.Parameter(torch.tensor(1.0))
        self.phi = nn.Parameter(torch.tensor(0.0))
        self.scale_mode, self.scale = False, None

    @property
    def grid_range(self) -> tuple[float, float]:
        """The smallest and largest value ``tau`` and ``phi`` may take."""
        lo, hi = FixedPoint(self.frac_bits, self.bits).range
        return lo / 2 ** self.frac_bits, hi / 2 ** self.frac_bits

    def domain(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tau, phi)`` as the layer uses them: on the grid (straight-through rounding)."""
        lo, hi = FixedPoint(self.frac_bits, self.bits).range
        return (_RoundSTE.apply(self.tau, self.frac_bits, lo, hi), _RoundSTE.apply(self.phi, self.frac_bits, lo, hi))

    def alpha_beta(self) -> tuple[float, float]:
        """The two weight values as used (Python floats, exact on the grid)."""
        tau, phi = (float(v.detach()) for v in self.domain())
        return phi - tau, phi + tau

    def binary_weight(self) -> torch.Tensor:
        """The weights as used: ``tau * sign(w) + phi`` (``tanh(w / temperature)`` for the sign while
        binarizing progressively)."""
        tau, phi = self.domain()
        return tau * binarize(self.weight, self.temperature if self.training else None) + phi

    def beta_fraction(self) -> torch.Tensor:
        """The fraction of weights in the beta state, with the sign's straight-through gradient (it
        lowers the latent weights near 0 while the fraction is above the target)."""
        return (sign_ste(self.weight).mean() + 1) / 2

    def sparsity_penalty(self, expected: float, gamma: float = 1.0) -> torch.Tensor:
        """``gamma * relu(beta_fraction - expected)``: the loss term that keeps the fraction of beta
        weights at or under the expected connections ``expected`` (EC, in ``(0, 1]``)."""
        if not 0 < expected <= 1:
            raise ValueError(f"the expected connections must be in (0, 1], not {expected!r}")
        if gamma < 0:
            raise ValueError(f"gamma must be non-negative, not {gamma!r}")
        return gamma * torch.relu(self.beta_fraction() - expected)

    @torch.no_grad()
    def init_from(self, weight: torch.Tensor, expected: float) -> float:
        """Start from full-precision weights of the layer's shape: the largest fraction ``expected``
        of them become beta, the rest alpha, with ``alpha`` and ``beta`` the means of their parts
        (the best two-level approximation for that split, in the least-squares sense). The domain is
        scaled so its largest magnitude uses the grid's top half (a BatchNorm after the layer absorbs
        a positive factor); returns that factor. Latent weights keep the split, scaled into [-1, 1].
        """
        if not 0 < expected <= 1:
            raise ValueError(f"the expected connections must be in (0, 1], not {expected!r}")
        w = torch.as_tensor(weight, dtype=torch.float32).reshape(self.weight.shape)
        flat = w.flatten()
        beta_count = max(1, round(expected * flat.numel()))
        top = flat.topk(beta_count).values
        cut = top[-1]
        is_beta = w >= cut
        beta = float(w[is_beta].mean())
        alpha = float(w[~is_beta].mean()) if (~is_beta).any() else beta
        if alpha == beta:
            raise ValueError("the weights split into two equal parts; there is no two-level approximation")
        largest = max(abs(alpha), abs(beta))
        factor = self.grid_range[1] / 2 / largest
        self.tau.fill_((beta - alpha) / 2 * factor)
        self.phi.fill_((beta + alpha) / 2 * factor)
        below = flat[flat < cut]
        middle = (cut + below.max()) / 2 if len(below) else cut - 1
        latent = w - middle
        self.weight.copy_(latent / latent.abs().max().clamp_min(1e-12))
        return factor

    def check_state(self, state: dict) -> None:
        lo, hi = self.grid_range
        for key in ("tau", "phi"):
            value = _check_tensor(state, key, torch.float32)
            if value.numel() != 1 or not bool(torch.isfinite(value).all()):
                raise ValueError(f"{key!r} must be one finite number")
            step = 2.0 ** -self.frac_bits
            if not lo - step / 2 <= float(value) < hi + step / 2:
                raise ValueError(f"{key} = {float(value)!r} is outside the {self.bits}-bit grid's range "
                                 f"{lo}..{hi}")

    def _domain_repr(self) -> str:
        return f"frac_bits={self.frac_bits}, bits={self.bits}"


@layer_type(check_state=True)
class SparseBinaryLinear(_SparseWeights):
    """Fully connected layer with weights in the learned ``{alpha, beta}`` domain on binary (+-1)
    inputs: ``y = x @ (tau * sign(W) + phi).T``, exact in float32 (see :class:`_SparseWeights`)."""

    def __init__(self, in_features: int, out_features: int, frac_bits: int = 4, bits: int = 8):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"SparseBinaryLinear sizes must be positive, not ({in_features}, {out_features})")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1) * 1e-2)
        self._init_domain(self.in_features, frac_bits, bits)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "frac_bits": self.frac_bits, "bits": self.bits}

    def forward(self, x):
        return F.linear(x, self.binary_weight())

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, {self._domain_repr()}"


@layer_type(check_state=True)
class SparseBinaryConv2d(_SparseWeights):
    """2-D convolution with weights in the learned ``{alpha, beta}`` domain on binary (+-1) inputs:
    ``y = conv2d(pad(x, padding, pad_value), tau * sign(W) + phi, stride)``. The border holds a binary
    value (``pad_value`` -1 or +1), so every output is a sum over a whole window."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, pad_value: int = -1, frac_bits: int = 4, bits: int = 8):
        super().__init__()
        if min(in_channels, out_channels, kernel_size, stride) < 1 or padding < 0:
            raise ValueError("SparseBinaryConv2d sizes must be positive (padding non-negative)")
        if pad_value not in (-1, 1):
            raise ValueError(f"SparseBinaryConv2d pads with -1 or +1, not {pad_value!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding, self.pad_value = (int(kernel_size), int(stride), int(padding),
                                                                       int(pad_value))
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, k, k).uniform_(-1, 1) * 1e-2)
        self._init_domain(self.in_channels * k * k, frac_bits, bits)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "pad_value": self.pad_value, "frac_bits": self.frac_bits, "bits": self.bits}

    def forward(self, x):
        p = self.padding
        if p:
            x = F.pad(x, (p, p, p, p), value=float(self.pad_value))
        return F.conv2d(x, self.binary_weight(), stride=self.stride)

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items())


# -- Learned Boolean logic-gate networks (difflogic; Wang et al. 2026's compact networks) ----------

#: The 16 two-input Boolean functions by code, difflogic's order: ``f_c(a, b) = (c >> (2 * (1 - a) + (1 - b))) & 1``
#: for bits ``a, b`` in ``{0, 1}``, so bit 3 of the code is ``f(0, 0)`` and bit 0 is ``f(1, 1)``.
GATE_FUNCTIONS = ("false", "a and b", "a and not b", "a", "not a and b", "b", "a xor b", "a or b", "a nor b",
                  "a xnor b", "not b", "a or not b", "not a", "not a or b", "a nand b", "true")


def gate_truth_table(code: int) -> tuple[int, int, int, int]:
    """``(f(0,0), f(0,1), f(1,0), f(1,1))`` of function ``code`` (0..15)."""
    return tuple((code >> (2 * (1 - a) + (1 - b))) & 1 for a in (0, 1) for b in (0, 1))


def _multilinear_table() -> torch.Tensor:
    """``(16, 4)``: each function's multilinear form ``w0 + w1 a + w2 b + w3 a b`` on ``a, b`` in
    ``[0, 1]`` as ``(w0, w1, w2, w3)``: the truth table's coefficients ``t00 (1-a)(1-b) + t01 (1-a) b +
    t10 a (1-b) + t11 a b`` multiplied out (AND is ``ab``, OR ``a + b - ab``, XOR ``a + b - 2ab``)."""
    rows = []
    for code in range(16):
        t00, t01, t10, t11 = gate_truth_table(code)
        rows.append((t00, t10 - t00, t01 - t00, t00 - t01 - t10 + t11))
    return torch.tensor(rows, dtype=torch.float32)


_MULTILINEAR = _multilinear_table()


def _relaxed_gate(w: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The multilinear form ``w0 + w1 a + w2 b + w3 a b`` (``w[..., 0..3]`` broadcast against ``a, b``);
    exact on bits with the integer coefficients of one function."""
    w0, w1, w2, w3 = w.unbind(-1)
    return w0 + a * (w1 + w3 * b) + w2 * b


def _exact_gate(code: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``f_code(a, b)`` on int64 bits: bit ``2 (1 - a) + (1 - b)`` of the code."""
    return (code >> (3 - 2 * a - b)) & 1


def _as_bits(x: torch.Tensor) -> torch.Tensor:
    """+-1 values as int64 bits (``x >= 0`` is 1, as ``sign(0) = +1``)."""
    return (x >= 0).long()


def _from_bits(bits: torch.Tensor) -> torch.Tensor:
    return torch.where(bits.bool(), 1.0, -1.0)


def _check_size(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def _check_tensor(state: dict, key: str, dtype: torch.dtype) -> torch.Tensor:
    tensor = state[key]
    if tensor.dtype != dtype:
        raise ValueError(f"{key!r} has dtype {str(tensor.dtype).removeprefix('torch.')}, expected "
                         f"{str(dtype).removeprefix('torch.')}")
    return tensor


def _check_range(tensor: torch.Tensor, what: str, high: int) -> None:
    """Every value of ``tensor`` in ``0..high - 1``."""
    bad = tensor[(tensor < 0) | (tensor >= high)]
    if len(bad):
        raise ValueError(f"{what} {int(bad[0])} is out of range 0..{high - 1}")


class _LogicGates(nn.Module):
    """What the logic layers share: a ``frozen`` flag (a bool buffer, saved) and seeded draws.

    A frozen layer computes its argmax gates in training too (on relaxed inputs, the multilinear form
    of those functions, so earlier layers still get gradients); eval mode always does. The training
    loop freezes layers front to back (:func:`bnn_hw.training.train`), so the last epoch reports the
    Boolean network's accuracy.
    """

    #: Training only (not saved, not in the config): None for the softmax mixture of the slots, or the
    #: temperature of Gumbel-softmax straight-through sampling: each step every gate computes one
    #: slot, the argmax of its logits plus Gumbel noise, with the gradient of the softmax of those
    #: noisy logits divided by the temperature (so training sees Boolean gates, and the gap to the
    #: discretized network closes; Kim et al., "Mind the Gap", NeurIPS 2025).
    gumbel: float | None = None
    #: Training only: the softmax mixture is that of ``logits / temperature`` (lowered towards 0 by
    #: the training loop, the mixture approaches the argmax slot).
    temperature: float = 1.0

    def _slot_weights(self, logits: torch.Tensor) -> torch.Tensor:
        """Training weights of the slots on the last axis: the softmax, or a Gumbel straight-through
        one-hot sample (:attr:`gumbel`)."""
        if self.gumbel is None:
            return F.softmax(logits / self.temperature, dim=-1)
        noise = -torch.empty_like(logits).exponential_().log()
        soft = F.softmax((logits + noise) / self.gumbel, dim=-1)
        hard = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft)
        return hard + (soft - soft.detach())          # exactly the one-hot, the softmax's gradient

    def _init_common(self, seed) -> None:
        self.seed = _check_size("seed", seed, 0)
        self._draws = 0
        self.register_buffer("frozen", torch.tensor(False))

    def _rng(self) -> torch.Generator:
        """A generator for the next draw: the constructor's is ``seed`` itself, re-draws follow."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self._draws)
        self._draws += 1
        return generator

    @property
    def is_frozen(self) -> bool:
        return bool(self.frozen)

    def freeze(self, frozen: bool = True) -> None:
        """Compute the argmax gates in training too (or again the soft mixture with False)."""
        self.frozen.fill_(bool(frozen))

    @torch.no_grad()
    def residual_init(self, strength: float = 5.0) -> None:
        """Petersen et al. 2024's residual initialization, for training deep networks: the logits
        become unit noise plus ``strength`` on the pass-through function ``a`` (code 3) of every
        candidate, so each gate starts close to copying an input and gradients reach the first layers."""
        for logits in self._logit_tensors():
            logits.normal_(generator=self._rng())
            logits[..., 3] += strength

    @torch.no_grad()
    def confidence(self) -> float:
        """Mean over the gates of the largest slot probability (1.0: every choice is certain)."""
        probabilities = [p for p in self._slot_probabilities() if len(p)]
        return float(sum(p.max(-1).values.sum() for p in probabilities) / sum(len(p) for p in probabilities))

    def _slot_probabilities(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def _logit_tensors(self) -> list[torch.Tensor]:
        return [p.data for name, p in self.named_parameters() if name.endswith("logits")]

    @staticmethod
    def _check_common(state: dict) -> None:
        _check_tensor(state, "frozen", torch.bool)
        for key, tensor in state.items():
            if key.endswith("logits"):
                _check_tensor(state, key, torch.float32)


@layer_type(check_state=True)
class LogicLayer(_LogicGates):
    """A layer of two-input logic gates (differentiable logic-gate networks, Petersen et al. 2022).

    Input ``(batch, in_bits)`` bits as +-1 (relaxed to ``[-1, 1]`` in training); output
    ``(batch, gates)``, exactly +-1 in eval mode. Gate ``g`` has ``candidates`` input pairs
    ``connections[g, k] = (a, b)`` (int64, drawn from ``seed``: difflogic's scheme, so every input is
    used by each candidate set when ``2 * gates >= in_bits``) and ``logits[g, k, c]`` over its
    ``candidates * 16`` slots (pair ``k``, function ``c``, :data:`GATE_FUNCTIONS`).

    Training: on ``p = (x + 1) / 2`` each gate is the softmax mixture over all its slots of the
    functions' multilinear forms (the truth table's coefficients expected under the softmax, four per
    pair), and the output is ``2 q - 1``. With one candidate the connections are fixed (difflogic);
    with more the softmax also learns which pair to read, and :meth:`redraw` replaces the unchosen
    pairs of gates whose choice stays uncertain (Wang et al. 2026's learned connections).

    Eval: each gate is its argmax slot (ties to the lowest index), :meth:`netlist`, computed on bits.
    """

    def __init__(self, in_bits: int, gates: int, candidates: int = 1, seed: int = 0):
        super().__init__()
        self.in_bits, self.gates = _check_size("in_bits", in_bits), _check_size("gates", gates)
        self.candidates = _check_size("candidates", candidates)
        self._init_common(seed)
        generator = self._rng()
        pairs = [self._draw_pairs(generator) for _ in range(self.candidates)]
        self.register_buffer("connections", torch.stack(pairs, dim=1))   # (gates, candidates, 2)
        self.logits = nn.Parameter(torch.randn(self.gates, self.candidates, 16, generator=generator))

    def _draw_pairs(self, generator: torch.Generator) -> torch.Tensor:
        """``(gates, 2)`` input indices: a random permutation of ``2 * gates`` slots onto the inputs,
        so every input is read once before any twice (difflogic's 'unique' connections)."""
        slots = torch.randperm(2 * self.gates, generator=generator) % self.in_bits
        slots = torch.randperm(self.in_bits, generator=generator)[slots]
        return slots.view(2, self.gates).t().contiguous()

    def config(self) -> dict:
        return {"in_bits": self.in_bits, "gates": self.gates, "candidates": self.candidates, "seed": self.seed}

    def check_state(self, state: dict) -> None:
        self._check_common(state)
        _check_range(_check_tensor(state, "connections", torch.int64), "input index", self.in_bits)

    def _choice(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The argmax slot of every gate: inputs ``a``, ``b`` and function ``code`` (int64 tensors)."""
        slot = self.logits.detach().reshape(self.gates, -1).argmax(1)   # the first maximum on ties
        pair = self.connections[torch.arange(self.gates), slot // 16]
        return pair[:, 0], pair[:, 1], slot % 16

    def netlist(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What eval mode computes: gate ``g`` outputs ``f_code[g](x[a[g]], x[b[g]])``; ``a``, ``b``
        int64 input indices, ``code`` uint8 function codes (:data:`GATE_FUNCTIONS`)."""
        a, b, code = self._choice()
        return a.cpu().numpy().astype(np.int64), b.cpu().numpy().astype(np.int64), code.cpu().numpy().astype(np.uint8)

    def _slot_probabilities(self) -> list[torch.Tensor]:
        return [F.softmax(self.logits.reshape(self.gates, -1), dim=1)]

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] != self.in_bits:
            raise ValueError(f"LogicLayer expects (batch, {self.in_bits}) bits, got {tuple(x.shape)}")
        if not self.training:
            a, b, code = self._choice()
            bits = _as_bits(x)
            return _from_bits(_exact_gate(code, bits.index_select(1, a), bits.index_select(1, b)))
        p = (x + 1) / 2
        if self.is_frozen:
            a, b, code = self._choice()
            q = _relaxed_gate(_MULTILINEAR.to(p)[code], p.index_select(1, a), p.index_select(1, b))
        else:
            probs = self._slot_weights(self.logits.reshape(self.gates, -1)).view(self.gates, self.candidates, 16)
            w = probs @ _MULTILINEAR.to(probs)                              # (gates, candidates, 4)
            shape = (len(p), self.gates, self.candidates)                 # index_select: a fast gather
            a = p.index_select(1, self.connections[..., 0].flatten()).view(shape)
            b = p.index_select(1, self.connections[..., 1].flatten()).view(shape)
            w0, w1, w2, w3 = w.unbind(-1)
            q = w0.sum(-1) + (a * (w1 + w3 * b) + w2 * b).sum(-1)
        return 2 * q - 1

    @torch.no_grad()
    def redraw(self, threshold: float) -> int:
        """For every gate whose largest slot probability is below ``threshold``, draw new random pairs
        for its candidates other than the argmax's, and reset their logits to the gate's mean logit
        plus unit noise; returns the number of such gates. Nothing for one candidate or a frozen layer."""
        if self.candidates == 1 or self.is_frozen:
            return 0
        top, slot = self._slot_probabilities()[0].max(1)
        gates = (top < threshold).nonzero().flatten()
        if not len(gates):
            return 0
        generator = self._rng()
        n, k = len(gates), self.candidates
        redrawn = torch.ones(n, k, dtype=torch.bool)
        redrawn[torch.arange(n), slot[gates] // 16] = False
        connections = self.connections[gates]
        connections[redrawn] = torch.randint(0, self.in_bits, (n, k, 2), generator=generator)[redrawn]
        self.connections[gates] = connections
        logits = self.logits.data[gates]
        fresh = logits.mean(dim=(1, 2), keepdim=True) + torch.randn(n, k, 16, generator=generator)
        logits[redrawn] = fresh[redrawn]
        self.logits.data[gates] = logits
        return n

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items()) + (", frozen" if self.is_frozen else "")


@layer_type(check_state=True)
class LogicConv2d(_LogicGates):
    """The compact logic convolution: each output channel is a complete binary tree of ``2**depth - 1``
    gates over ``2**depth`` leaves, applied at every output pixel; leaf ``l`` reads the bit at
    ``(channel, row, column)`` of the ``kernel_size`` x ``kernel_size`` window (``padding`` bits around
    the image are -1, false).

    Input ``(batch, in_channels, H, W)`` bits as +-1; output ``(batch, out_channels, H', W')``.
    The first level of gates works as :class:`LogicLayer`'s gates on pairs of leaves: gate ``g`` reads
    leaves ``2g`` and ``2g + 1`` and has ``candidates`` positions for them (``positions[o, l, k]`` =
    ``(channel, row, column)``, int64) and ``logits[o, g, k, c]`` over its ``candidates * 16`` slots;
    the gates above have ``tree_logits[o, j, c]`` over the 16 functions (level order, root last).
    Eval: :meth:`tree`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, depth: int = 2, stride: int = 1,
                 padding: int = 0, candidates: int = 1, seed: int = 0):
        super().__init__()
        self.in_channels = _check_size("in_channels", in_channels)
        self.out_channels = _check_size("out_channels", out_channels)
        self.kernel_size, self.stride = _check_size("kernel_size", kernel_size), _check_size("stride", stride)
        self.depth, self.padding = _check_size("depth", depth), _check_size("padding", padding, 0)
        if depth > 8:
            raise ValueError(f"depth must be at most 8, not {depth}")
        self.candidates = _check_size("candidates", candidates)
        self._init_common(seed)
        generator = self._rng()
        shape = (self.out_channels, self.leaves, self.candidates)
        self.register_buffer("positions", torch.stack([
            torch.randint(0, self.in_channels, shape, generator=generator),
            torch.randint(0, self.kernel_size, shape, generator=generator),
            torch.randint(0, self.kernel_size, shape, generator=generator)], dim=-1))
        first = self.leaves // 2
        self.logits = nn.Parameter(torch.randn(self.out_channels, first, self.candidates, 16, generator=generator))
        self.tree_logits = nn.Parameter(torch.randn(self.out_channels, first - 1, 16, generator=generator))

    @property
    def leaves(self) -> int:
        return 2 ** self.depth

    @property
    def gates_per_channel(self) -> int:
        return self.leaves - 1

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "depth": self.depth, "stride": self.stride,
                "padding": self.padding, "candidates": self.candidates, "seed": self.seed}

    def check_state(self, state: dict) -> None:
        self._check_common(state)
        positions = _check_tensor(state, "positions", torch.int64)
        _check_range(positions[..., 0], "input channel", self.in_channels)
        _check_range(positions[..., 1:], "window offset", self.kernel_size)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        k, s, p = self.kernel_size, self.stride, self.padding
        return (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1

    def _choice(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The leaves ``(out, 2**depth, 3)`` and codes ``(out, 2**depth - 1)`` eval mode computes."""
        o, first, k = self.out_channels, self.leaves // 2, self.candidates
        slot = self.logits.detach().reshape(o, first, -1).argmax(-1)    # (out, first); first maximum on ties
        positions = self.positions.view(o, first, 2, k, 3)
        index = (slot // 16)[:, :, None, None, None].expand(o, first, 2, 1, 3)
        leaves = positions.gather(3, index).reshape(o, self.leaves, 3)
        codes = torch.cat([slot % 16, self.tree_logits.detach().argmax(-1)], dim=1)
        return leaves, codes

    def tree(self) -> tuple[np.ndarray, np.ndarray]:
        """What eval mode computes. ``leaves`` (int64, ``(out_channels, 2**depth, 3)``): the
        ``(channel, row, column)`` each leaf reads in the window; ``codes`` (uint8,
        ``(out_channels, 2**depth - 1)``): the functions in level order, first the ``2**(depth-1)``
        gates on leaf pairs ``(0, 1), (2, 3), ...``, then the gates on their outputs in pairs, root
        last. Output ``(o, i, j)`` is the root of tree ``o`` on the padded input's window at
        ``(i * stride, j * stride)``."""
        leaves, codes = self._choice()
        return leaves.cpu().numpy().astype(np.int64), codes.cpu().numpy().astype(np.uint8)

    def _slot_probabilities(self) -> list[torch.Tensor]:
        o = self.out_channels
        return [F.softmax(self.logits.reshape(o * self.leaves // 2, -1), dim=1),
                F.softmax(self.tree_logits.reshape(-1, 16), dim=1)]

    @torch.no_grad()
    def redraw(self, threshold: float) -> int:
        """:meth:`LogicLayer.redraw` for the first level of gates: the gates whose largest slot
        probability is below ``threshold`` get new random positions for both leaves of their
        unchosen candidates, and those slots' logits are reset. Returns the number of such gates."""
        if self.candidates == 1 or self.is_frozen:
            return 0
        k = self.candidates
        top, slot = self._slot_probabilities()[0].max(1)
        gates = (top < threshold).nonzero().flatten()              # over (out_channels, first-level gates)
        if not len(gates):
            return 0
        generator = self._rng()
        n = len(gates)
        redrawn = torch.ones(n, k, dtype=torch.bool)
        redrawn[torch.arange(n), slot[gates] // 16] = False
        positions = self.positions.view(-1, 2, k, 3)                # leaves 2g and 2g + 1 of gate g
        chosen = positions[gates]
        fresh = torch.stack([torch.randint(0, self.in_channels, (n, 2, k), generator=generator),
                             torch.randint(0, self.kernel_size, (n, 2, k), generator=generator),
                             torch.randint(0, self.kernel_size, (n, 2, k), generator=generator)], dim=-1)
        mask = redrawn[:, None, :].expand(n, 2, k)
        chosen[mask] = fresh[mask]
        positions[gates] = chosen
        logits = self.logits.data.view(-1, k, 16)
        mine = logits[gates]
        reset = mine.mean(dim=(1, 2), keepdim=True) + torch.randn(n, k, 16, generator=generator)
        mine[redrawn] = reset[redrawn]
        logits[gates] = mine
        return n

    def _windows(self, x: torch.Tensor, pad: float) -> torch.Tensor:
        """``(batch, in_channels * k * k, output pixels)``: every window, channel-major then row, column."""
        if self.padding:
            p = self.padding
            x = F.pad(x, (p, p, p, p), value=pad)
        return F.unfold(x, self.kernel_size, stride=self.stride)

    def _flat(self, positions: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return (positions[..., 0] * k + positions[..., 1]) * k + positions[..., 2]

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"LogicConv2d expects (batch, {self.in_channels}, height, width) bits, "
                             f"got {tuple(x.shape)}")
        height, width = self.output_size(x.shape[2], x.shape[3])
        if height < 1 or width < 1:
            raise ValueError(f"LogicConv2d: a {x.shape[2]}x{x.shape[3]} input is smaller than its "
                             f"{self.kernel_size}x{self.kernel_size} window (padding {self.padding})")
        n, o = len(x), self.out_channels
        if not self.training:
            leaves, codes = self._choice()
            windows = self._windows(_as_bits(x).to(torch.float32), 0.0).long()
            level = windows.index_select(1, self._flat(leaves).flatten()).view(n, o, self.leaves, -1)
            start = 0
            while level.shape[2] > 1:
                count = level.shape[2] // 2
                code = codes[:, start:start + count][None, :, :, None]
                level = _exact_gate(code, level[:, :, 0::2], level[:, :, 1::2])
                start += count
            return _from_bits(level[:, :, 0]).view(n, o, height, width)
        windows = self._windows((x + 1) / 2, 0.0)
        table = _MULTILINEAR.to(windows)
        first = self.leaves // 2
        if self.is_frozen:
            leaves, codes = self._choice()
            level = windows.index_select(1, self._flat(leaves).flatten()).view(n, o, self.leaves, -1)
            weights = table[codes]                                          # (out, gates, 4)
        else:
            k = self.candidates
            values = windows.index_select(1, self._flat(self.positions).flatten()).view(n, o, first, 2, k, -1)
            probs = self._slot_weights(self.logits.reshape(o, first, -1)).view(o, first, k, 16)
            w = (probs @ table)[None, :, :, :, None, :]                     # (1, out, first, k, 1, 4)
            w0, w1, w2, w3 = w.unbind(-1)
            a, b = values[:, :, :, 0], values[:, :, :, 1]                   # (batch, out, first, k, pixels)
            level = w0.sum(3) + (a * (w1 + w3 * b) + w2 * b).sum(3)         # (batch, out, first, pixels)
            weights = self._slot_weights(self.tree_logits) @ table          # the gates above
        return self._upper(level, weights).view(n, o, height, width)

    @staticmethod
    def _upper(level: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Reduce ``level`` ``(batch, out, m, pixels)`` pairwise by the relaxed gates ``weights``
        ``(out, m - 1, 4)`` in level order; returns ``2 q - 1`` of the root, ``(batch, out, pixels)``."""
        start = 0
        while level.shape[2] > 1:
            count = level.shape[2] // 2
            w = weights[:, start:start + count][None, :, :, None, :]
            level = _relaxed_gate(w, level[:, :, 0::2], level[:, :, 1::2])
            start += count
        return 2 * level[:, :, 0] - 1

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items()) + (", frozen" if self.is_frozen else "")


@layer_type
class GroupSum(nn.Module):
    """Class scores from bits: input ``(batch, n)`` +-1 values with ``n`` divisible by ``classes``;
    output ``(batch, classes)``, the number of +1 bits in each consecutive group of ``n / classes``
    (``sum((x + 1) / 2)``: integers in eval mode, exact in float32; relaxed counts in training).
    A temperature for the loss belongs to the training loop, not to this layer."""

    def __init__(self, classes: int):
        super().__init__()
        self.classes = _check_size("classes", classes)

    def config(self) -> dict:
        return {"classes": self.classes}

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] < self.classes or x.shape[1] % self.classes:
            raise ValueError(f"GroupSum({self.classes}) needs (batch, n) bits with n a positive multiple of "
                             f"{self.classes}, got shape {tuple(x.shape)}")
        return ((x + 1) / 2).reshape(len(x), self.classes, -1).sum(-1)

    def extra_repr(self):
        return f"classes={self.classes}"


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


def _prelu_config(layer: nn.PReLU) -> dict:
    return {"num_parameters": int(layer.num_parameters)}


def _flatten_config(layer: nn.Flatten) -> dict:
    if (layer.start_dim, layer.end_dim) != (1, -1):
        raise ModelFileError("Flatten must flatten all dimensions after the batch (start_dim=1, end_dim=-1)")
    return {}


for _cls, _config in ((nn.BatchNorm1d, _batchnorm_config), (nn.BatchNorm2d, _batchnorm_config),
                      (nn.MaxPool2d, _pool_config), (nn.AvgPool2d, _pool_config), (nn.Flatten, _flatten_config),
                      (nn.PReLU, _prelu_config), (nn.ReLU, lambda layer: {}), (nn.Sigmoid, lambda layer: {}),
                      # eval-mode no-ops that trained models often keep
                      (nn.Dropout, lambda layer: {"p": float(layer.p)}), (nn.Identity, lambda layer: {})):
    layer_type(_cls, config=_config)
