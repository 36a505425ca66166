"""PixelConv2d with B-bit integer weights (BNext's 8-bit first convolution): its folded thresholds
equal PyTorch's signs bit for bit (ties, negative and zero BatchNorm scales, several slices), its
levels a FixedPoint's, a whole network's scores PyTorch's in the reference and in the Amaranth
pipeline (weights as bit planes and in DSP multipliers, under stalls); bad models refused in one line."""

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.folding import parse_folding
from bnn_hw.compiler.ops import Fold, IntPixelConv2d, LevelThresholds
from bnn_hw.errors import BnnHwError, ModelFileError, UnsupportedModelError
from conftest import _adversarial_batchnorm, _binary_classifier, random_cnn, torch_scores
from test_compiler_blocks import _images, _simulate

IMAGE = (2, 7, 6)
CONV = (5, 3, 1, 1, 0, 1)   # out, kernel, stride, padding, (zero padding, no groups)


def _network(weight_bits: int, seed: int, sign=None) -> torch.nn.Sequential:
    """ImageInput, PixelConv2d(weight_bits), BatchNorm2d (two zero scales, negative ones), ``sign``
    (default Sign), MaxPool2d, Flatten, BinaryLinear layers."""
    model = random_cnn(image=IMAGE, convs=(CONV,), pools=(0,), thresholds=(), pixels=True,
                       weight_bits=weight_bits, seed=seed, zero_scale_channels=2)
    if sign is not None:
        model[3] = sign
        out = model[1].out_channels * len(sign.offsets)
        model[6] = bnn.BinaryLinear(out * 9, model[6].out_features)
        model[7] = torch.nn.BatchNorm1d(model[6].out_features).eval()
    return model.eval()


def _with_ties(model, x: np.ndarray) -> None:
    """Channels 2 and 3 of the BatchNorm exactly 0 at a sum the images reach, and exactly +-0.5 at its
    neighbours (channel 3's scale negative): there the sign is +1 (``sign(0)``, ``sign(-0.0)``), and
    so is a slice at offset +-0.5. (A scale of 0.5 and no epsilon keep every step exact in float32.)"""
    with torch.no_grad():
        sums = model[1](torch.as_tensor(x).float().permute(0, 3, 1, 2))
        bn = model[2]
        bn.eps = 0.0
        for c, scale in ((2, 0.5), (3, -0.5)):
            bn.running_mean[c], bn.running_var[c], bn.bias[c], bn.weight[c] = sums[0, c, 2, 3], 1.0, 0.0, scale


def _conv_bits(model, x: np.ndarray) -> np.ndarray:
    """PyTorch's bits after the convolution's sign, channels-last (1 for +1)."""
    with torch.no_grad():
        y = model[:4](torch.as_tensor(x).float().permute(0, 3, 1, 2))
    return (y > 0).permute(0, 2, 3, 1).numpy().astype(np.uint8)


@pytest.mark.parametrize("weight_bits, seed", [(8, 0), (8, 1), (4, 2), (2, 3)])
@pytest.mark.parametrize("slices", [1, 3])
def test_thresholds_are_pytorch_s_signs(weight_bits, seed, slices):
    sign = None if slices == 1 else bnn.MultiSliceSign((-0.5, 0.0, 0.5))
    model = _network(weight_bits, seed, sign)
    x = _images(model, 64, seed)
    _with_ties(model, x)
    plan = compile_model(model)
    conv = plan.graph.nodes[0].op
    assert isinstance(conv, IntPixelConv2d) and conv.thresholds.shape == (1, 5, slices)
    assert conv.weight_bits in (weight_bits, weight_bits + 1)   # a negated -2**(B-1) takes a bit more
    assert (conv.reference(x) == _conv_bits(model, x)).all()
    assert (plan.predict(x)[1] == torch_scores(model, x)).all()


def _fixed_network(seed: int) -> torch.nn.Sequential:
    """ImageInput, PixelConv2d(8 bits), BatchNorm2d, FixedPoint, LearnableBias, Sign, Flatten, BinaryLinear
    layers: a BNext stem on a fixed-point map."""
    g = torch.Generator().manual_seed(seed)
    conv = bnn.PixelConv2d(1, 4, 3, 1, 1, weight_bits=8)
    bn, bias = torch.nn.BatchNorm2d(4), bnn.LearnableBias(4)
    with torch.no_grad():
        conv.weight.uniform_(-1.2, 1.2, generator=g)
        bias.bias.uniform_(-1, 1, generator=g)
    _adversarial_batchnorm(bn, 9 * 128 ** 4, g, 1)
    return torch.nn.Sequential(bnn.ImageInput(1, 6, 5), conv, bn, bnn.FixedPoint(2, 6), bias, bnn.Sign(),
                               torch.nn.Flatten(), *_binary_classifier(4 * 30, (5,), 3, g, scale=False,
                                                                       zero_scale_channels=1)).eval()


def test_a_fixed_point_after_it_is_levels_on_its_sums():
    model = _fixed_network(4)
    x = _images(model, 200, 4)
    plan = compile_model(model)
    assert [type(n.op) for n in plan.graph.nodes[:2]] == [IntPixelConv2d, LevelThresholds]
    assert (plan.predict(x)[1] == torch_scores(model, x)).all()


@pytest.mark.parametrize("network, folding", [
    ("sign", {}), ("sign", {"conv1": Fold(2, 4)}), ("sign", {"conv1": Fold(3, 5, multipliers=True)}),
    ("fixed", {"conv1": Fold(2, 4, multipliers=True)}),
])
def test_pipeline_is_bit_exact_under_random_stalls(network, folding):
    model = _network(8, 5) if network == "sign" else _fixed_network(5)
    plan = compile_model(model, folding)
    frames = _images(model, 3, 5)
    classes, scores = plan.predict(frames)
    assert (scores == torch_scores(model, frames)).all()
    got = _simulate(plan, frames, 0.3, seed=2)
    assert [g[0] for g in got] == list(classes) and all((g[1] == s).all() for g, s in zip(got, scores))


def test_dsp_folding_counts_a_multiplier_per_lane_pair():
    model = _network(8, 6)
    assert compile_model(model, parse_folding("conv1=3x6:dsp")).stages[0].cost.dsp == 18
    assert compile_model(model).stages[0].cost.dsp == 0
    with pytest.raises(BnnHwError, match="only multiply-accumulate layers with multi-bit weights"):
        compile_model(_network(1, 6), parse_folding("conv1=3x6:dsp"))


def test_negated_weights_wider_than_16_bits_get_one_line():
    """A falling channel's weights are negated: -2**15 would need 17 bits."""
    conv = bnn.PixelConv2d(1, 1, 1, weight_bits=16)
    bn = torch.nn.BatchNorm2d(1)
    with torch.no_grad():
        conv.weight.fill_(-1.0)
        bn.weight.fill_(-1.0)
    model = torch.nn.Sequential(bnn.ImageInput(1, 2, 2), conv, bn, bnn.Sign(), torch.nn.Flatten(),
                                bnn.BinaryLinear(4, 2)).eval()
    with pytest.raises(UnsupportedModelError, match="negated weights need more than 16 bits") as e:
        compile_model(model)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("config, says", [
    ({"weight_bits": 0}, "weight_bits must be an integer in 1..16, not 0"),
    ({"weight_bits": 17}, "weight_bits must be an integer in 1..16, not 17"),
    ({"kernel_size": 33}, "could sum past 2\\*\\*24"),   # 33 x 33 x 2 pixels of 8-bit weights
])
def test_hand_edited_model_files_get_one_line(tmp_path, config, says):
    path = tmp_path / "net.pt"
    bnn_hw.save(_network(8, 7), path)
    data = torch.load(path, weights_only=True)
    data["layers"][1]["config"].update(config)
    torch.save(data, path)
    with pytest.raises(ModelFileError, match=f"layer 1 \\(PixelConv2d\\) has a bad config: .*{says}") as e:
        bnn_hw.load(path)
    assert "\n" not in str(e.value)
