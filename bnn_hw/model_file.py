"""The ``net.pt`` model file: :func:`save` and :func:`load`.

A model is a ``torch.nn.Sequential`` of bnn-hw layers. The file is a ``torch.save`` of plain data::

    {"format": "bnn-hw-model", "version": 1,
     "layers": [{"type": "BinaryLinear", "config": {...}}, ...],
     "state_dict": {"1.weight": tensor, ...}}

A container layer (:class:`bnn_hw.nn.LogicShortcut`) also lists its body,
``{"type": "LogicShortcut", "config": {"op": "xnor"}, "layers": [...]}``, and its tensors are named
``"3.0.weight"`` (layer 0 of the body of layer 3).

:func:`load` reads it with ``torch.load(weights_only=True)``, so no code from the file ever runs; it
checks the schema, layer types, tensor shapes and what each layer type checks of its own tensors
(index ranges and dtypes of the logic layers) and raises :class:`ModelFileError` with one line
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


def _describe(layer: nn.Module) -> dict:
    name, config = bnn.layer_config(layer)
    entry = {"type": name, "config": config}
    if bnn.LAYER_TYPES[name].container:
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
    if name not in bnn.LAYER_TYPES:
        raise ModelFileError(f"{path}: layer {label} has unsupported type {name!r}; "
                             f"bnn-hw supports {bnn.supported_layers()}")
    kind = bnn.LAYER_TYPES[name]
    children = []
    if kind.container:
        if not isinstance(entry.get("layers"), list):
            raise ModelFileError(f"{path}: layer {label} ({name}) is malformed (needs its 'layers')")
        children = [_build_layer(path, f"{label}.{i}", e) for i, e in enumerate(entry["layers"])]
    try:
        layer = kind.cls(*children, **entry["config"])
        # what the layer was built as must be what the file says, value for value and type for type:
        # constructors coerce (int(60.7) is 60) and PyTorch's layers take any value, or unknown keys
        # (nn.Identity), without a word
        described = kind.config(layer)
    except (TypeError, ValueError, ModelFileError) as e:
        raise ModelFileError(f"{path}: layer {label} ({name}) has a bad config: {e}") from None
    for key, value in entry["config"].items():
        if key not in described:
            raise ModelFileError(f"{path}: layer {label} ({name}) has a bad config: unknown key {key!r} "
                                 f"(it takes {', '.join(map(repr, described)) or 'none'})")
        if not _same(value, described[key]):
            raise ModelFileError(f"{path}: layer {label} ({name}) has a bad config: {key!r} is {value!r}, "
                                 f"which the layer takes as {described[key]!r}")
    return layer


def _same(a, b) -> bool:
    """``a == b`` with the same types all the way down (``True`` is not ``1``, ``1.0`` is not ``1``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _check_layer_states(path, model: nn.Sequential, given: dict) -> None:
    """Each layer type's own checks of its tensors (:attr:`bnn_hw.nn.LayerType.check_state`: index
    ranges, dtypes), before they are loaded (loading would cast them silently)."""
    for label, layer in model.named_modules():
        kind = bnn.layer_kind(layer)
        if kind is None or kind.check_state is None:
            continue
        prefix = f"{label}."
        state = {key[len(prefix):]: tensor for key, tensor in given.items()
                 if key.startswith(prefix) and "." not in key[len(prefix):]}
        try:
            kind.check_state(layer, state)
        except ValueError as e:
            raise ModelFileError(f"{path}: layer {label} ({type(layer).__name__}): {e}") from None


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
    _check_layer_states(path, model, given)
    model.load_state_dict(given, strict=True)
    return model.eval()
