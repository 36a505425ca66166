"""Bi-Real's real-valued downsampling shortcut: the training layers, the folding of its BatchNorm
and FixedPoint into level thresholds, the reference against PyTorch, the Amaranth pipeline under
stalls, its energy accounting and the one-line errors."""

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.compiler.energy import plan_traffic, real_valued_baseline
from bnn_hw.compiler.ir import Kind, TensorType
from bnn_hw.compiler.ops import AvgPool, FixedConv, LevelThresholds
from bnn_hw.compiler import Block, compile_model
from bnn_hw.errors import UnsupportedModelError
from conftest import random_bireal, torch_scores
from test_compiler_blocks import _images, assert_pipeline_matches_reference


def _downsampling_block(model):
    return next(layer for layer in model if isinstance(layer, bnn.RealShortcut) and layer.branch is not None)


def test_fixed_point_weights_lie_on_their_grid_and_pass_the_gradient_straight_through():
    conv = bnn.FixedPointConv2d(3, 2, weight_bits=4, weight_frac_bits=2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.3, -0.1, 5.0, -9.0, 1.1, 0.0]).reshape(2, 3, 1, 1))
    assert conv.fixed_weight().flatten().tolist() == [0.25, 0.0, 1.75, -2.0, 1.0, 0.0]
    x = torch.ones(1, 3, 2, 2)
    conv(x).sum().backward()
    # inside the range the gradient passes; the clamped weights (5.0, -9.0) get none
    assert conv.weight.grad.flatten().tolist() == [4.0, 4.0, 0.0, 0.0, 4.0, 4.0]


def test_the_branch_replaces_the_identity_shortcut():
    branch = bnn.ShortcutBranch(torch.nn.AvgPool2d(2))
    block = bnn.RealShortcut(branch, torch.nn.MaxPool2d(2))
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(block(x), torch.nn.functional.max_pool2d(x, 2) + torch.nn.functional.avg_pool2d(x, 2))
    assert block.branch is branch and len(block.body) == 1
    with pytest.raises(ValueError, match="first layer"):
        bnn.RealShortcut(torch.nn.MaxPool2d(2), branch)


@pytest.mark.parametrize("seed, padding_mode, weight_bits", [(0, "constant", (4, 2)), (1, "replicate", (6, 3)),
                                                             (2, "replicate", (2, 0))])
def test_reference_equals_pytorch(seed, padding_mode, weight_bits):
    model = random_bireal(image=(1, 6, 6), downsample=True, seed=seed, padding_mode=padding_mode,
                          weight_bits=weight_bits)
    x = np.random.default_rng(seed).integers(0, 256, (500, 36))
    assert (compile_model(model).predict(x)[1] == torch_scores(model, x)).all()


def test_save_and_load_keep_the_branch(tmp_path):
    model = random_bireal(image=(1, 6, 6), downsample=True, seed=4)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    x = _images(model, 50, 0)
    assert (torch_scores(loaded, x) == torch_scores(model, x)).all()
    assert isinstance(_downsampling_block(loaded).branch[1], bnn.FixedPointConv2d)


def test_the_branch_folds_into_sums_and_level_thresholds():
    """The branch's ops after streamlining; falling (negative BatchNorm scale) channels have their
    weights negated, a zero-scale channel is constant."""
    model = random_bireal(image=(1, 6, 6), downsample=True, seed=5)
    bn = _downsampling_block(model).branch[2]
    with torch.no_grad():
        bn.weight[1] = -abs(bn.weight[1]) - 0.5
        bn.weight[2] = abs(bn.weight[2]) + 0.5
    plan = compile_model(model)
    ops = {type(n.op): n.op for n in plan.graph.nodes}
    conv, levels = ops[FixedConv], ops[LevelThresholds]
    trained = np.round(_downsampling_block(model).branch[1].fixed_weight().detach().numpy()[:, :, 0, 0] * 4).astype(np.int64)
    assert conv.sums and (conv.weights[1] == -trained[1]).all() and (conv.weights[2] == trained[2]).all()
    t = levels.thresholds
    assert len(np.unique(t[0])) <= 2       # constant: each threshold below every sum, or above
    assert len(np.unique(t[1])) > 10 and len(np.unique(t[2])) > 10   # many steps either way
    block = next(item for item in plan.layout if isinstance(item, Block) and item.branch)
    assert [type(s.op) for s in block.branch] == [AvgPool, FixedConv, LevelThresholds]
    assert block.join.bypass.width == levels.width


@pytest.mark.parametrize("padding_mode", ["constant", "replicate"])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_pipeline_with_a_downsampling_shortcut_is_bit_exact_under_random_stalls(padding_mode, stall):
    """Producer and consumer stall at random: the computing shortcut neither deadlocks nor loses data."""
    assert_pipeline_matches_reference(random_bireal(image=(1, 6, 6), downsample=True, seed=3,
                                                    padding_mode=padding_mode), stall)


def test_the_real_convolution_is_float32_in_the_baseline():
    plan = compile_model(random_bireal(image=(1, 6, 6), downsample=True, seed=0, blocks=1))
    stage = next(s for s in plan.stages if isinstance(s.op, FixedConv))
    t = dict((name, t) for name, t, _, _ in plan_traffic(plan).rows)[stage.name]
    macs = 3 * 3 * 16 * 8
    assert t.fixed_macs == macs and t.fixed_mac_adds == macs * stage.op.weight_bits
    b = real_valued_baseline(t)
    assert b.real_mults == macs and b.real_ops == macs and b.int_ops == t.int_ops - t.fixed_mac_adds


def _downsample(*branch, body_stride=2, image=(1, 4, 4)):
    body = [bnn.Sign(), bnn.BinaryConv2d(2, 4, 3, stride=body_stride, padding=1), torch.nn.BatchNorm2d(4),
            bnn.FixedPoint(3, 6)]
    size = image[1] // 2
    return torch.nn.Sequential(
        bnn.ImageInput(*image), bnn.BinaryConv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), bnn.FixedPoint(3, 6),
        bnn.RealShortcut(bnn.ShortcutBranch(*branch), *body),
        bnn.Sign(), torch.nn.Flatten(), bnn.BinaryLinear(4 * size * size, 2)).eval()


@pytest.mark.parametrize("branch, message", [
    ((torch.nn.AvgPool2d(2), bnn.FixedPointConv2d(2, 4)), "FixedPoint ends .* ShortcutBranch"),
    ((torch.nn.AvgPool2d(2, stride=1), bnn.FixedPointConv2d(2, 4), torch.nn.BatchNorm2d(4), bnn.FixedPoint(3, 6)),
     "non-overlapping"),
    ((bnn.FixedPointConv2d(2, 4), torch.nn.BatchNorm2d(4), bnn.FixedPoint(3, 6)), "the block's body gives"),
])
def test_unsupported_downsampling_shortcuts_get_one_line(branch, message):
    with pytest.raises(UnsupportedModelError, match=message) as e:
        compile_model(_downsample(*branch))
    assert "\n" not in str(e.value)


def test_sums_wider_than_float32_holds_exactly_are_refused():
    image = TensorType((2, 2, 64), Kind.INT, 8, 5)

    def weights(bits):   # the most negative of ``bits``-bit weights, and a 1
        w = np.full((3, 64), -(1 << (bits - 1)))
        w[:, 0] = 1
        return w

    assert FixedConv(weights(11), 2, 5).infer((image,)).kind is Kind.REAL   # 64 * 128 * 1024 = 2**23
    with pytest.raises(ValueError, match="more than float32"):
        FixedConv(weights(12), 2, 5).infer((image,))


def test_an_average_pool_must_keep_a_binary_grid():
    with pytest.raises(ValueError, match="power of two"):
        AvgPool(3)
