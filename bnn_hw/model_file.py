"""The ``net.pt`` model file: :func:`save` and :func:`load`.

A model is a ``torch.nn.Sequential`` of bnn-hw layers. The file is a ``torch.save`` of plain data::

    {"format": "bnn-hw-model", "version": 1,
     "layers": [{"type": "BinaryLinear", "config": {...}}, ...],
     "state_dict": {"1.weight": tensor, ...}}

A container layer (:class:`bnn_hw.nn.LogicShortcut`) also lists its body,
``{"type": "LogicShortcut", "config": {"op": "xnor"}, "layers": [...]}``, and its tensors are named
``"3.0.weight"`` (layer 0 of the body of layer 3).

:func:`load` reads it with ``torch.load(weights_only=True)``, so no code from the file ever runs; it
checks the schema, layer types and tensor shapes and raises :class:`ModelFileError` with one line
naming the problem.
"""

from __future__ import annotations

import os
import pickle

import torch
from torch import nn

from . import nn as bnn
from .errors import ModelFileError

FORMAT = "bnn-hw-model"
VERSION = 1


def _batchnorm_config(layer: nn.modules.batchnorm._BatchNorm) -> dict:
    if not (layer.affine and layer.track_running_stats):
        raise ModelFileError(f"{type(layer).__name__} must have affine=True and track_running_stats=True "
                             f"to be saved")
    return {"num_features": layer.num_features, "eps": layer.eps, "momentum": layer.momentum}


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


#: Layer type name -> (class, function giving its constructor arguments).
LAYER_TYPES = {
    "ImageInput": (bnn.ImageInput, bnn.ImageInput.config),
    "Thermometer": (bnn.Thermometer, bnn.Thermometer.config),
    "BinaryLinear": (bnn.BinaryLinear, bnn.BinaryLinear.config),
    "BinaryConv2d": (bnn.BinaryConv2d, bnn.BinaryConv2d.config),
    "PixelConv2d": (bnn.PixelConv2d, bnn.PixelConv2d.config),
    "Sign": (bnn.Sign, bnn.Sign.config),
    "MultiSliceSign": (bnn.MultiSliceSign, bnn.MultiSliceSign.config),
    "ChannelShuffle": (bnn.ChannelShuffle, bnn.ChannelShuffle.config),
    "LogicShortcut": (bnn.LogicShortcut, bnn.LogicShortcut.config),
    "ConcatShortcut": (bnn.ConcatShortcut, bnn.ConcatShortcut.config),
    "RealShortcut": (bnn.RealShortcut, bnn.RealShortcut.config),
    "ShortcutBranch": (bnn.ShortcutBranch, bnn.ShortcutBranch.config),
    "FixedPoint": (bnn.FixedPoint, bnn.FixedPoint.config),
    "FixedPointConv2d": (bnn.FixedPointConv2d, bnn.FixedPointConv2d.config),
    "BatchNorm1d": (nn.BatchNorm1d, _batchnorm_config),
    "BatchNorm2d": (nn.BatchNorm2d, _batchnorm_config),
    "MaxPool2d": (nn.MaxPool2d, _pool_config),
    "AvgPool2d": (nn.AvgPool2d, _pool_config),
    "Flatten": (nn.Flatten, _flatten_config),
}


def supported_layers() -> str:
    return ", ".join(LAYER_TYPES)


def _type_name(layer: nn.Module) -> str:
    for name, (cls, _) in LAYER_TYPES.items():
        if type(layer) is cls:
            return name
    raise ModelFileError(f"cannot save layer {type(layer).__name__}: bnn-hw supports {supported_layers()}")


#: Layer types that hold a body of layers.
CONTAINERS = ("LogicShortcut", "ConcatShortcut", "RealShortcut", "ShortcutBranch")


def _describe(layer: nn.Module) -> dict:
    name = _type_name(layer)
    entry = {"type": name, "config": LAYER_TYPES[name][1](layer)}
    if name in CONTAINERS:
        entry["layers"] = [_describe(child) for child in layer]
    return entry


def save(model: nn.Sequential, path: str | os.PathLike) -> None:
    """Write ``model`` (a ``torch.nn.Sequential`` of bnn-hw layers) to ``path``."""
    if not isinstance(model, nn.Sequential):
        raise ModelFileError(f"bnn_hw.save expects a torch.nn.Sequential, not {type(model).__name__}")
    layers = [_describe(layer) for layer in model]
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "version": VERSION, "layers": layers, "state_dict": state}, os.fspath(path))


def _read(path) -> dict:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unsupported content"
        raise ModelFileError(f"{path}: not a bnn-hw model file (it holds objects other than plain data: "
                             f"{first[:160]}); save models with bnn_hw.save") from None
    except Exception as e:  # torch.load raises many kinds of errors on damaged or foreign files
        raise ModelFileError(f"{path}: truncated or not a PyTorch file ({type(e).__name__}); "
                             f"re-save the model with bnn_hw.save") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a bnn-hw model file (no '{FORMAT}' header); "
                             f"save models with bnn_hw.save")
    if data.get("version") != VERSION:
        raise ModelFileError(f"{path}: model file version {data.get('version')!r} is not supported "
                             f"(this bnn-hw reads version {VERSION})")
    if not isinstance(data.get("layers"), list) or not isinstance(data.get("state_dict"), dict):
        raise ModelFileError(f"{path}: malformed bnn-hw model file (missing 'layers' or 'state_dict')")
    return data


def _build_layer(path, label: str, entry) -> nn.Module:
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ModelFileError(f"{path}: layer {label} is malformed (needs 'type' and 'config')")
    name = entry["type"]
    if name not in LAYER_TYPES:
        raise ModelFileError(f"{path}: layer {label} has unsupported type {name!r}; "
                             f"bnn-hw supports {supported_layers()}")
    children = []
    if name in CONTAINERS:
        if not isinstance(entry.get("layers"), list):
            raise ModelFileError(f"{path}: layer {label} ({name}) is malformed (needs its 'layers')")
        children = [_build_layer(path, f"{label}.{i}", e) for i, e in enumerate(entry["layers"])]
    cls = LAYER_TYPES[name][0]
    try:
        return cls(*children, **entry["config"])
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: layer {label} ({name}) has a bad config: {e}") from None


def load(path: str | os.PathLike) -> nn.Sequential:
    """Read a model written by :func:`save` and return it in eval mode.

    Raises :class:`ModelFileError` (one line) if the file is missing, truncated, not a bnn-hw model,
    names an unsupported layer, or holds tensors of the wrong shape.
    """
    data = _read(path)
    model = nn.Sequential(*(_build_layer(path, str(i), e) for i, e in enumerate(data["layers"])))
    expected = model.state_dict()
    given = data["state_dict"]
    missing = [k for k in expected if k not in given]
    if missing:
        raise ModelFileError(f"{path}: tensor {missing[0]!r} is missing")
    unexpected = [k for k in given if k not in expected]
    if unexpected:
        raise ModelFileError(f"{path}: unexpected tensor {unexpected[0]!r}")
    for key, want in expected.items():
        got = given[key]
        if not isinstance(got, torch.Tensor):
            raise ModelFileError(f"{path}: {key!r} is not a tensor")
        if tuple(got.shape) != tuple(want.shape):
            label = key.rsplit(".", 1)[0]
            raise ModelFileError(f"{path}: layer {label} ({type(model.get_submodule(label)).__name__}): "
                                 f"{key!r} has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
        if not torch.isfinite(got.float()).all():
            raise ModelFileError(f"{path}: {key!r} holds NaN or infinite values")
    model.load_state_dict(given, strict=True)
    return model.eval()
