"""Shared fixtures: small random bnn-hw models with adversarial BatchNorm statistics."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

from bnn_hw import nn as bnn

# Property tests: "ci" (the default) is derandomized, so every run tries the same examples;
# HYPOTHESIS_PROFILE=nightly (the slow tier's script) draws many more, at random.
settings.register_profile("ci", derandomize=True, max_examples=20, deadline=None)
settings.register_profile("nightly", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _thermometer(thresholds) -> tuple[list[torch.nn.Module], int]:
    """The layers that code 8-bit inputs with ``thresholds`` (none for bit inputs), and the bits per input."""
    return ([bnn.Thermometer(thresholds)], len(thresholds)) if thresholds else ([], 1)


def random_mlp(features: int, hidden: list[int], classes: int, *, thresholds=(64, 128, 192),
               seed: int = 0, scale: bool = False, zero_scale_channels: int = 2) -> torch.nn.Sequential:
    """An untrained MLP with random weights and BN statistics that put thresholds everywhere,
    including negative and zero BN scales. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    layers, per_value = _thermometer(thresholds)
    width = features * per_value
    layers += _binary_classifier(width, hidden, classes, g, scale=scale, zero_scale_channels=zero_scale_channels)
    return torch.nn.Sequential(*layers).eval()


def _binary_classifier(features: int, hidden, classes: int, g: torch.Generator, *, scale: bool,
                       zero_scale_channels: int) -> list[torch.nn.Module]:
    """Binary FC layers with adversarial BN after each hidden one, ending in integer scores."""
    layers: list[torch.nn.Module] = []
    for h in hidden:
        dense = bnn.BinaryLinear(features, h, scale=scale)
        bn = torch.nn.BatchNorm1d(h)
        with torch.no_grad():
            dense.weight.normal_(generator=g)
            if dense.scale is not None:
                dense.scale.copy_(torch.randn(h, generator=g))
        _adversarial_batchnorm(bn, features, g, zero_scale_channels)
        layers += [dense, bn, bnn.Sign()]
        features = h
    last = bnn.BinaryLinear(features, classes)
    with torch.no_grad():
        last.weight.normal_(generator=g)
    return layers + [last]


def _adversarial_batchnorm(bn, fan_in: int, g: torch.Generator, zero_scale_channels: int):
    """BN statistics that put thresholds everywhere, with negative and zero scales."""
    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g) * fan_in ** 0.5)
        bn.running_var.copy_(torch.rand(c, generator=g) * fan_in + 0.5)
        bn.weight.copy_(torch.randn(c, generator=g))
        bn.bias.copy_(torch.randn(c, generator=g))
        bn.weight[:zero_scale_channels] = 0


def random_cnn(image=(1, 9, 7), convs=((4, 3, 1, 1, -1, 1),), pools=(), hidden=(6,), classes=3, *,
               thresholds=(100,), pixels: bool = False, seed: int = 0, scale: bool = False,
               zero_scale_channels: int = 1, pool_kernel: int = 2, weight_bits: int = 1) -> torch.nn.Sequential:
    """An untrained CNN: ``ImageInput(*image)``, a Thermometer (if ``thresholds``), then for each
    ``(out, kernel, stride, padding, pad_value, groups)`` in ``convs`` a BinaryConv2d (``pad_value``
    ``"replicate"``: replicate padding) (the first a
    PixelConv2d on 8-bit pixels if ``pixels``, zero padded, no groups, with ``weight_bits``-bit weights
    spanning their whole range), BatchNorm2d, Sign
    and, where ``pools`` has the conv's index, a ``pool_kernel`` square MaxPool2d; then Flatten and
    binary FC layers.
    Random weights and adversarial BN statistics. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    channels, height, width = image
    coded, per_value = _thermometer(thresholds)
    layers: list[torch.nn.Module] = [bnn.ImageInput(*image)] + coded
    channels *= per_value
    for index, (out, kernel, stride, padding, pad_value, groups) in enumerate(convs):
        if pixels and index == 0:
            conv, groups = bnn.PixelConv2d(channels, out, kernel, stride, padding, scale=scale,
                                           weight_bits=weight_bits), 1
        elif pad_value == "replicate":
            conv = bnn.BinaryConv2d(channels, out, kernel, stride, padding, groups=groups, scale=scale,
                                    padding_mode="replicate")
        else:
            conv = bnn.BinaryConv2d(channels, out, kernel, stride, padding, pad_value, groups, scale=scale)
        bn = torch.nn.BatchNorm2d(out)
        integer = pixels and index == 0 and weight_bits > 1
        with torch.no_grad():
            if integer:   # past both ends, so the extremes occur
                conv.weight.uniform_(-1.2, 1.2, generator=g)
            else:
                conv.weight.normal_(generator=g)
            if conv.scale is not None:
                conv.scale.copy_(torch.randn(out, generator=g))
        fan_in = kernel * kernel * channels // groups * (128 ** 2 if pixels and index == 0 else 1)
        fan_in <<= 2 * (weight_bits - 1) if integer else 0
        _adversarial_batchnorm(bn, fan_in, g, zero_scale_channels)
        layers += [conv, bn, bnn.Sign()]
        channels = out
        height = (height + 2 * padding - kernel) // stride + 1
        width = (width + 2 * padding - kernel) // stride + 1
        if index in pools:
            layers.append(torch.nn.MaxPool2d(pool_kernel))
            height, width = height // pool_kernel, width // pool_kernel
    layers.append(torch.nn.Flatten())
    layers += _binary_classifier(channels * height * width, hidden, classes, g, scale=False,
                                 zero_scale_channels=zero_scale_channels)
    return torch.nn.Sequential(*layers).eval()


def random_boolnet(image=(1, 6, 5), channels=8, *, op="xnor", slices=4, kernel=3, seed: int = 0,
                   hidden=(6,), classes=3, grouped: bool = False, concat: bool = False) -> torch.nn.Sequential:
    """An untrained BoolNet-style CNN: ``ImageInput(*image)``, a 2-level Thermometer, a binary
    convolution to ``channels`` with BN and Sign, then two logic shortcuts (``op``) around a
    ``kernel`` x ``kernel`` binary convolution with BN: the first ends in a Sign, the second in a
    ``slices``-slice MultiSliceSign (its convolution gives ``channels / slices`` channels); then
    Flatten and binary FC layers. With ``grouped``, a third shortcut's body is BoolNet's multi-slice
    grouped convolution: a ``kernel`` x ``kernel`` convolution, a ``slices``-slice sign, a channel
    shuffle putting the slices first, and a 1x1 convolution with one group per slice. With ``concat``,
    a last block puts a convolution's ``channels / 2`` (at least 1) new channels beside its input's.
    Random weights and adversarial BN statistics. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = image

    def conv_bn(cin, cout, k, pad, groups=1):
        conv = bnn.BinaryConv2d(cin, cout, k, 1, pad, -1, groups)
        bn = torch.nn.BatchNorm2d(cout)
        with torch.no_grad():
            conv.weight.normal_(generator=g)
        _adversarial_batchnorm(bn, k * k * cin // groups, g, 1)
        return [conv, bn]

    offsets = bnn.BOOLNET_OFFSETS[:slices] if slices == 4 else [s - slices / 2 for s in range(slices)]
    pad = kernel // 2
    layers = [bnn.ImageInput(*image), bnn.Thermometer((85, 170)), *conv_bn(2 * c, channels, 3, 1), bnn.Sign(),
              bnn.LogicShortcut(*conv_bn(channels, channels, kernel, pad), bnn.Sign(), op=op),
              bnn.LogicShortcut(*conv_bn(channels, channels // slices, kernel, pad),
                                bnn.MultiSliceSign(offsets), op=op)]
    if grouped:
        layers.append(bnn.LogicShortcut(*conv_bn(channels, channels, kernel, pad), bnn.MultiSliceSign(offsets),
                                        bnn.ChannelShuffle(channels),
                                        *conv_bn(slices * channels, channels, 1, 0, groups=slices), bnn.Sign(),
                                        op=op))
    width = channels
    if concat:   # half the channels new, at least one (a one-channel network gets one)
        new = max(channels // 2, 1)
        layers.append(bnn.ConcatShortcut(*conv_bn(channels, new, kernel, pad), bnn.Sign()))
        width += new
    layers.append(torch.nn.Flatten())
    layers += _binary_classifier(width * h * w, hidden, classes, g, scale=False, zero_scale_channels=1)
    return torch.nn.Sequential(*layers).eval()


def random_bireal(image=(1, 6, 5), channels=8, *, blocks=2, frac_bits=3, bits=6, seed: int = 0,
                  padding_mode="constant", hidden=(6,), classes=3, downsample: bool = False,
                  weight_bits=(4, 2), pool: int = 2, bias: bool = False, prelu: bool = False,
                  joins: tuple = ("add",), concat: bool = False, se: bool = False) -> torch.nn.Sequential:
    """An untrained Bi-Real-style CNN: ``ImageInput(*image)``, a 2-level Thermometer, a binary
    convolution to ``channels`` with BN and Sign, a second one with magnitude-aware scale, BN and
    ``FixedPoint(frac_bits, bits)`` (the real-valued feature map), then ``blocks`` real-valued shortcuts
    around Sign (ApproxSign), a 3x3 magnitude-aware binary convolution, BN and FixedPoint; with
    ``downsample`` a Bi-Real downsampling block to twice the channels at 1 / ``pool`` the size (the
    body's convolution with stride ``pool``, a ShortcutBranch of AvgPool2d(pool), a FixedPointConv2d with
    ``weight_bits`` (bits, fraction bits), BN and FixedPoint); a Sign, Flatten and binary FC layers.
    The convolutions pad with +1, or replicate with ``padding_mode``. Random weights, adversarial BN
    statistics (one zero-scale channel per layer). With ``bias`` every Sign has a LearnableBias before
    it (BNext's), random, half of each on the fixed-point grid (so that ties occur); with ``prelu`` each
    BatchNorm before a FixedPoint is followed by a PReLU with random per-channel slopes in -0.5..1.
    ``joins`` are the blocks' joins in turn: ``"add"`` (a RealShortcut), ``"mix"`` (a
    RecouplingShortcut with random mixes, 0 and 1 among them) or ``"product"`` (a ProductShortcut);
    unless all are ``"add"``, every block is followed by a FixedPoint(frac_bits, bits) that rounds and
    clamps its result back to the feature map's grid. With ``concat`` the downsampling block's body
    is its sign, then two strided convolutions of the signs side by side, each to ``channels`` (a
    ConcatShortcut with a ShortcutBranch, BNext's doubling). With ``se`` a squeeze-and-excitation
    block follows the blocks (a ProductShortcut around a GlobalSumPool, two FixedPointConv2d with
    BatchNorm, ReLU and Sigmoid, and their FixedPoints), rounded back to the map's grid. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    rounded = set(joins) != {"add"}

    def block(index, layers, cout):
        """The ``index``-th block around ``layers`` (``cout`` channels), with its rounding."""
        kind = joins[index % len(joins)]
        if kind == "mix":
            made = bnn.RecouplingShortcut(*layers, channels=cout, frac_bits=2)
            with torch.no_grad():
                made.mix.uniform_(-0.2, 1.2, generator=g)
        else:
            made = {"add": bnn.RealShortcut, "product": bnn.ProductShortcut}[kind](*layers)
        return [made, bnn.FixedPoint(frac_bits, bits)] if rounded else [made]

    def signed(cout, sign):
        """``sign``, after a random LearnableBias of ``cout`` channels with ``bias``."""
        if not bias:
            return [sign]
        shift = bnn.LearnableBias(cout)
        with torch.no_grad():
            shift.bias.uniform_(-1.5, 1.5, generator=g)
            shift.bias[::2] = torch.round(shift.bias[::2] * 2 ** frac_bits) / 2 ** frac_bits
        return [shift, sign]
    c, h, w = image
    pad_value = 1 if padding_mode == "constant" else -1

    def squeeze_excite(cout):
        """``x * gate(x)``: random 1x1 convolutions, BN statistics spread over the sums' range (a
        zero and negative scales among them, so some gates fall as their sums rise)."""
        hidden = max(cout // 2, 1)
        convs = [bnn.FixedPointConv2d(cout, hidden, 4, 2), bnn.FixedPointConv2d(hidden, cout, 4, 2)]
        bns = [torch.nn.BatchNorm2d(hidden), torch.nn.BatchNorm2d(cout)]
        for conv, bn, spread in zip(convs, bns, (30.0, 3.0)):
            with torch.no_grad():
                conv.weight.uniform_(-1, 1, generator=g)
            _adversarial_batchnorm(bn, spread ** 2, g, 1)
        return bnn.ProductShortcut(bnn.GlobalSumPool(), convs[0], bns[0], torch.nn.ReLU(), bnn.FixedPoint(frac_bits, bits),
                                   convs[1], bns[1], torch.nn.Sigmoid(), bnn.FixedPoint(4, 6))

    def conv_bn(cin, cout, sign, scale="magnitude", fixed=True, stride=1):
        conv = bnn.BinaryConv2d(cin, cout, 3, stride, 1, pad_value, scale=scale, padding_mode=padding_mode)
        bn = torch.nn.BatchNorm2d(cout)
        with torch.no_grad():
            conv.weight.uniform_(-1, 1, generator=g)
        _adversarial_batchnorm(bn, 9 * cin, g, 1)
        after = []
        if prelu and fixed:
            after = [torch.nn.PReLU(cout)]
            with torch.no_grad():
                after[0].weight.uniform_(-0.5, 1, generator=g)
        return ((signed(cin, sign) if sign else []) + [conv, bn] + after
                + ([bnn.FixedPoint(frac_bits, bits)] if fixed else []))

    layers = [bnn.ImageInput(*image), bnn.Thermometer((85, 170)),
              *conv_bn(2 * c, channels, None, scale=False, fixed=False), *signed(channels, bnn.Sign()),
              *conv_bn(channels, channels, None)]
    for index in range(blocks):
        layers += block(index, conv_bn(channels, channels, bnn.Sign(grad="approx")), channels)
    if se:
        layers += [squeeze_excite(channels), bnn.FixedPoint(frac_bits, bits)]
    if downsample:
        conv = bnn.FixedPointConv2d(channels, 2 * channels, *weight_bits)
        bn = torch.nn.BatchNorm2d(2 * channels)
        with torch.no_grad():
            conv.weight.uniform_(-1, 1, generator=g)
        _adversarial_batchnorm(bn, channels, g, 1)
        branch = bnn.ShortcutBranch(torch.nn.AvgPool2d(pool), conv, bn, bnn.FixedPoint(frac_bits, bits))
        body = conv_bn(channels, 2 * channels, bnn.Sign(grad="approx"), stride=pool)
        if concat:
            halves = [conv_bn(channels, channels, None, stride=pool) for _ in range(2)]
            body = [*signed(channels, bnn.Sign(grad="approx")),
                    bnn.ConcatShortcut(bnn.ShortcutBranch(*halves[0]), *halves[1])]
        layers += block(blocks, [branch, *body], 2 * channels)
        channels, h, w = 2 * channels, h // pool, w // pool
    layers += [*signed(channels, bnn.Sign()), torch.nn.Flatten()]
    layers += _binary_classifier(channels * h * w, hidden, classes, g, scale=False, zero_scale_channels=1)
    return torch.nn.Sequential(*layers).eval()


def with_fixed_last(model, weight_bits: int = 8, seed: int = 0) -> torch.nn.Sequential:
    """``model`` with its last BinaryLinear replaced by a FixedPointLinear (BNext's 8-bit last layer)
    whose random weights cover the whole integer range, the extremes included. Eval mode."""
    old = model[-1]
    last = bnn.FixedPointLinear(old.in_features, old.out_features, weight_bits)
    with torch.no_grad():
        last.weight.uniform_(-1.2, 1.2, generator=torch.Generator().manual_seed(seed))
    model[-1] = last
    return model.eval()


def _random_sparse(layer, g: torch.Generator, density: float, values: tuple[int, int] | None = None):
    """Random latent weights with about ``density`` of them beta, and ``(tau, phi)`` in grid steps
    (default random, never tau = 0)."""
    with torch.no_grad():
        layer.weight.copy_(torch.rand(layer.weight.shape, generator=g) - (1 - density))
        if values is None:
            step = 2 ** layer.frac_bits
            tau = int(torch.randint(1, 2 * step, (1,), generator=g)) * (1 if torch.rand(1, generator=g) < 0.8 else -1)
            phi = int(torch.randint(-2 * step, 2 * step, (1,), generator=g))
            values = (tau, phi)
        layer.tau.fill_(values[0] / 2 ** layer.frac_bits)
        layer.phi.fill_(values[1] / 2 ** layer.frac_bits)


def random_sparse_mlp(features: int, hidden: list[int], classes: int, *, thresholds=(64, 128, 192), seed: int = 0,
                      densities=None, values=None, slices: int = 1, sparse_last: bool = False,
                      zero_scale_channels: int = 2) -> torch.nn.Sequential:
    """An untrained MLP of SparseBinaryLinear layers (random beta fractions, random tau and phi on
    the grid unless ``values`` gives them in grid steps: (16, 0) is a binary layer, (8, 8) a pruned
    one) with adversarial BN and a sign (``slices`` > 1: a multi-slice sign), ending in a BinaryLinear
    (or a sparse layer whose scores are integers, ``sparse_last``). Eval mode."""
    g = torch.Generator().manual_seed(seed)
    layers, per_value = _thermometer(thresholds)
    width = features * per_value
    for k, h in enumerate(hidden):
        dense = bnn.SparseBinaryLinear(width, h)
        density = densities[k] if densities else float(torch.empty(1).uniform_(0.01, 0.5, generator=g))
        _random_sparse(dense, g, density, values)
        bn = torch.nn.BatchNorm1d(h)
        _adversarial_batchnorm(bn, width, g, zero_scale_channels)
        sign = bnn.Sign() if slices == 1 else bnn.MultiSliceSign(tuple(np.linspace(-0.6, 0.6, slices).tolist()))
        layers += [dense, bn, sign]
        width = h * slices
    if sparse_last:   # a score of 1 is worth 1: frac_bits 0 and coprime alpha, beta
        last = bnn.SparseBinaryLinear(width, classes, frac_bits=0, bits=4)
        _random_sparse(last, g, 0.2, (1, 2))   # alpha = 1, beta = 3
    else:
        last = bnn.BinaryLinear(width, classes)
        with torch.no_grad():
            last.weight.normal_(generator=g)
    return torch.nn.Sequential(*layers, last).eval()


def random_sparse_cnn(image=(1, 8, 7), convs=((5, 3, 1, 1, -1),), hidden=(6,), classes=3, *, thresholds=(128,),
                      seed: int = 0) -> torch.nn.Sequential:
    """An untrained CNN of SparseBinaryConv2d layers (``convs`` of ``(out, kernel, stride, padding,
    pad_value)``) with adversarial BN and signs, then a sparse MLP head. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = image
    coded, per_value = _thermometer(thresholds)
    layers: list[torch.nn.Module] = [bnn.ImageInput(c, h, w)] + coded
    c *= per_value
    for out, kernel, stride, padding, pad_value in convs:
        conv = bnn.SparseBinaryConv2d(c, out, kernel, stride, padding, pad_value)
        _random_sparse(conv, g, float(torch.empty(1).uniform_(0.05, 0.5, generator=g)))
        bn = torch.nn.BatchNorm2d(out)
        _adversarial_batchnorm(bn, c * kernel * kernel, g, 1)
        layers += [conv, bn, bnn.Sign()]
        c, h, w = out, (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1
    head = random_sparse_mlp(c * h * w, list(hidden), classes, thresholds=(), seed=seed)
    return torch.nn.Sequential(*layers, torch.nn.Flatten(), *head).eval()


def random_logic(features: int, gates=(24, 16), classes: int = 4, *, thresholds=(64, 128, 192), candidates: int = 1,
                 seed: int = 0) -> torch.nn.Sequential:
    """An untrained logic-gate network (gate layers of ``gates`` each, the last ``classes`` times a group)
    with random logits, so every function and every candidate pair occurs. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    layers, per_value = _thermometer(thresholds)
    width = features * per_value
    for k, n in enumerate(gates):
        layer = bnn.LogicLayer(width, n, candidates=candidates, seed=seed * 31 + k)
        with torch.no_grad():
            layer.logits.normal_(generator=g)
        layers.append(layer)
        width = n
    layers.append(bnn.GroupSum(classes))
    return torch.nn.Sequential(*layers).eval()


def random_logic_cnn(image=(1, 8, 7), convs=((6, 3, 2, 1, 1),), pool: int = 2, gates=(20,), classes: int = 3, *,
                     thresholds=(128,), candidates: int = 1, seed: int = 0) -> torch.nn.Sequential:
    """An untrained logic CNN: ``convs`` of ``(out_channels, kernel, depth, stride, padding)``, an OR
    pool (``MaxPool2d``, 0 for none), gate layers and a GroupSum. Random logits. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = image
    coded, per_value = _thermometer(thresholds)
    layers: list[torch.nn.Module] = [bnn.ImageInput(c, h, w)] + coded
    c *= per_value
    for k, (out, kernel, depth, stride, padding) in enumerate(convs):
        conv = bnn.LogicConv2d(c, out, kernel, depth=depth, stride=stride, padding=padding,
                               candidates=candidates, seed=seed * 17 + k)
        with torch.no_grad():
            conv.logits.normal_(generator=g)
            conv.tree_logits.normal_(generator=g)
        layers.append(conv)
        c, (h, w) = out, conv.output_size(h, w)
    if pool:
        layers.append(torch.nn.MaxPool2d(pool))
        h, w = h // pool, w // pool
    layers.append(torch.nn.Flatten())
    model = random_logic(c * h * w, tuple(gates) + (classes * 4,), classes, thresholds=(), candidates=candidates,
                         seed=seed)
    return torch.nn.Sequential(*layers, *model).eval()


def torch_scores(model, x: np.ndarray) -> np.ndarray:
    """The model's eval-mode scores; images are given channels-last (batch, height, width, channels)
    or flattened in that order, as the compiler takes them."""
    x = torch.as_tensor(np.asarray(x)).float()
    if isinstance(model[0], bnn.ImageInput):
        c, h, w = model[0].shape
        x = x.reshape(len(x), h, w, c).permute(0, 3, 1, 2)
    with torch.no_grad():
        return model(x).numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def terminal(capsys, monkeypatch):
    """stderr (captured by ``capsys``) says it is a terminal, so progress bars draw on it. (The class
    is patched: capsys's stream during the test is not the one it had while fixtures were set up.)"""
    import sys

    monkeypatch.setattr(type(sys.stderr), "isatty", lambda stream: stream is sys.stderr)
    return capsys


@pytest.fixture(params=[False, True], ids=["pipe", "terminal"])
def stderr(request, capsys):
    """capsys, run twice: with stderr not a terminal and (:func:`terminal`) a terminal; ``stderr.param``
    says which. ``stderr.bars()`` reads what was written: nothing on stdout, and on stderr nothing
    off a terminal; it returns stderr's text."""
    if request.param:
        request.getfixturevalue("terminal")

    def bars() -> str:
        out, err = capsys.readouterr()
        assert out == ""
        assert request.param or err == "", err
        return err

    capsys.param, capsys.bars = request.param, bars
    return capsys


def stand_in_tools(folder, family, script=lambda tool: "") -> dict:
    """Stand-ins for ``family``'s tools in ``folder``, named as the yowasp wheels name them: each runs
    ``script(tool)`` (shell, in the build folder) and succeeds. Returns the environment that points
    the build script at them."""
    env = {"PATH": "/usr/bin:/bin"}
    for tool in family.tools:
        fake = folder / tool.command
        fake.write_text(f"#!/bin/sh\n{script(tool)}exit 0\n")
        fake.chmod(0o755)
        env[tool.env_var] = str(fake)
    return env
