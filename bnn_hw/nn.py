"""Training layers for binary neural networks that bnn-hw can compile.

Every layer's eval-mode forward is exact: binary values are exactly +-1.0, binary dot products are
sums of +-1 terms (exact in float32 below 2**24), so the compiler can reproduce the output bit for bit.
Bit encoding (``shared/DESIGN.md`` section 3): +1 is bit 1, -1 is bit 0, and ``sign(0) = +1``.

Layers:

- :class:`Thermometer`: 8-bit pixels -> k bits per pixel (``pixel >= t`` for each threshold ``t``).
- :class:`BinaryLinear`: binary weights (sign of latent weights, straight-through gradient),
  optional learned per-output-channel scale.
- :class:`Sign`: binary activation with a straight-through (clamp) or Bi-Real ApproxSign gradient.
- ``torch.nn.BatchNorm1d`` is used as it is.

Each bnn-hw layer describes itself with :meth:`config` and is rebuilt with ``cls(**config)``; this is
what :func:`bnn_hw.save` writes, so no code is ever pickled.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Thermometer", "BinaryLinear", "Sign", "binarize", "sign_ste", "sign_approx"]


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


def binarize(w: torch.Tensor) -> torch.Tensor:
    """Binary weights: ``+1`` where the latent weight is ``>= 0``, else ``-1`` (STE gradient)."""
    return sign_ste(w)


class Thermometer(nn.Module):
    """Thermometer-encode 8-bit pixels into bits.

    Input: ``(batch, features)`` pixel values in ``0..255`` (any float or integer dtype).
    Output: ``(batch, features * k)`` values in ``{-1, +1}``; element ``i * k + j`` is
    ``+1`` iff ``pixel[i] >= thresholds[j]`` (channels-last: each pixel's k bits are adjacent).
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
        x = x.to(torch.float32).unsqueeze(-1)
        bits = torch.where(x >= self._levels, 1.0, -1.0)
        return bits.flatten(-2)

    def extra_repr(self):
        return f"thresholds={self.thresholds}"


class BinaryLinear(nn.Module):
    """Fully connected layer with binary weights and binary (+-1) inputs.

    ``y = (x @ sign(W).T) * scale`` where ``scale`` (per output channel, learned) exists only if
    ``scale=True``. The product is computed first, so ``x @ sign(W).T`` is an exact integer.
    """

    def __init__(self, in_features: int, out_features: int, scale: bool = False):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"BinaryLinear sizes must be positive, not ({in_features}, {out_features})")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1) * 1e-2)
        self.scale = nn.Parameter(torch.ones(out_features)) if scale else None

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "scale": self.scale is not None}

    def forward(self, x):
        y = F.linear(x, binarize(self.weight))
        if self.scale is not None:
            y = y * self.scale
        return y

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale is not None}"


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
