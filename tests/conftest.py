"""Shared fixtures: small random bnn-hw models with adversarial BatchNorm statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bnn_hw import nn as bnn


def random_mlp(features: int, hidden: list[int], classes: int, *, thresholds=(64, 128, 192),
               seed: int = 0, scale: bool = False, zero_scale_channels: int = 2) -> torch.nn.Sequential:
    """An untrained MLP with random weights and BN statistics that put thresholds everywhere,
    including negative and zero BN scales. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    width = features
    if thresholds:
        layers.append(bnn.Thermometer(thresholds))
        width = features * len(thresholds)
    for h in hidden:
        dense = bnn.BinaryLinear(width, h, scale=scale)
        bn = torch.nn.BatchNorm1d(h)
        with torch.no_grad():
            dense.weight.normal_(generator=g)
            if dense.scale is not None:
                dense.scale.copy_(torch.randn(h, generator=g))
            bn.running_mean.copy_(torch.randn(h, generator=g) * width ** 0.5)
            bn.running_var.copy_(torch.rand(h, generator=g) * width + 0.5)
            bn.weight.copy_(torch.randn(h, generator=g))
            bn.bias.copy_(torch.randn(h, generator=g))
            bn.weight[:zero_scale_channels] = 0
        layers += [dense, bn, bnn.Sign()]
        width = h
    last = bnn.BinaryLinear(width, classes)
    with torch.no_grad():
        last.weight.normal_(generator=g)
    layers.append(last)
    return torch.nn.Sequential(*layers).eval()


def torch_scores(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(x).float()).numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
