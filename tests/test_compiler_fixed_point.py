"""Bi-Real blocks through the compiler: fixed-point layers, tables, widths, reference == PyTorch, the
pipeline in simulation under random stalls, and the shortcut's energy terms."""

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.compiler.energy import Traffic, plan_traffic, real_valued_baseline
from bnn_hw.compiler.ir import Kind, TensorType
from bnn_hw.compiler.ops import Add, FixedSign, Requantize
from bnn_hw.compiler import Block, compile_model
from bnn_hw.errors import UnsupportedModelError
from bnn_hw.intmath import signed_width
from conftest import random_bireal, torch_scores
from bnn_hw.compiler.ops import Fold
from test_compiler_blocks import _images, _simulate, assert_pipeline_matches_reference


def test_fixed_point_rounds_half_to_even_and_clamps():
    q = bnn.FixedPoint(2, 5)  # quarters, -4.0 .. 3.75
    x = torch.tensor([0.125, 0.375, -0.125, 1.1, 9.0, -9.0])
    assert q(x).tolist() == [0.0, 0.5, -0.0, 1.0, 3.75, -4.0]
    x.requires_grad_(True)
    q(x).sum().backward()
    assert x.grad.tolist() == [1, 1, 1, 1, 0, 0]   # straight through inside the range only
    with pytest.raises(ValueError, match="frac_bits"):
        bnn.FixedPoint(5, 5)


def test_magnitude_aware_scale_is_the_mean_absolute_weight_and_scales_the_gradient():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 5, 5).sign()
    convs = {}
    for scale in (False, "magnitude"):
        conv = convs[scale] = bnn.BinaryConv2d(2, 3, 3, scale=scale)
        with torch.no_grad():
            conv.weight.copy_(torch.linspace(-0.9, 0.9, conv.weight.numel()).reshape(conv.weight.shape))
        conv(x).sum().backward()
    alpha = convs["magnitude"].weight.detach().abs().mean(dim=(1, 2, 3))
    assert torch.equal(convs["magnitude"](x), convs[False](x) * alpha[:, None, None])
    # Bi-Real's magnitude-aware gradient: the sign's straight-through gradient times the magnitude
    assert torch.allclose(convs["magnitude"].weight.grad, convs[False].weight.grad * alpha[:, None, None, None],
                          atol=1e-5)
    with pytest.raises(ValueError, match="scale"):
        bnn.BinaryConv2d(2, 3, 3, scale="mean")


def test_real_shortcut_adds_its_input():
    block = bnn.RealShortcut(torch.nn.Identity())
    x = torch.tensor([[0.5, -1.25]])
    assert block(x).tolist() == [[1.0, -2.5]]


@pytest.mark.parametrize("seed, padding_mode, bnext", [(0, "constant", False), (1, "constant", False),
                                                      (2, "replicate", False), (4, "constant", True),
                                                      (5, "replicate", True)])
def test_reference_equals_pytorch(seed, padding_mode, bnext):
    """With ``bnext``: BNext's parts too, a LearnableBias before every sign and a PReLU before every
    FixedPoint, and a downsampling block."""
    model = random_bireal((1, 6, 6) if bnext else (1, 6, 5), seed=seed, padding_mode=padding_mode, bias=bnext,
                          prelu=bnext, downsample=bnext)
    x = _images(model, 300, seed)
    _, scores = compile_model(model).predict(x)
    assert (scores == torch_scores(model, x)).all()


def test_save_and_load_keep_the_blocks_and_magnitude_scales(tmp_path):
    model = random_bireal(seed=5)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    assert isinstance(loaded[8], bnn.RealShortcut) and loaded[8][1].scale_mode == "magnitude"
    x = _images(model, 20, 0)
    assert (torch_scores(model, x) == torch_scores(loaded, x)).all()


def test_tables_widths_and_structure():
    plan = compile_model(random_bireal(seed=1, blocks=3))
    types = plan.graph.types()
    tables = [n for n in plan.graph.nodes if isinstance(n.op, Requantize)]
    adds = [n for n in plan.graph.nodes if isinstance(n.op, Add)]
    assert len(tables) == 4 and len(adds) == 3
    for node in tables:
        t = node.op.table
        assert t.shape == (8, 9 * 8 + 1) and t.min() >= -32 and t.max() <= 31      # FixedPoint(3, 6)
        assert types[node.name].width == max(signed_width(t.min(), t.max()), 4) and types[node.name].frac == 3
    # each sum is one bit wider than the wider of its inputs
    for node in adds:
        body, shortcut = (types[i] for i in node.inputs)
        assert types[node.name].width == max(body.width, shortcut.width) + 1
    blocks = [item for item in plan.layout if isinstance(item, Block)]
    assert [b.join.name for b in blocks] == [n.name for n in adds]
    assert isinstance(blocks[0].body[0].op, FixedSign)
    # the shortcut carries the fixed-point values, as many per word as its join adds (here one: the
    # 8 values of a pixel in 8 cycles keep up with the 9-cycle convolution), 8 words per pixel
    bypass, join = blocks[1].join.bypass, blocks[1].join
    assert join.fold.pe == 1 and bypass.width == types[adds[0].name].width and bypass.words_per_vector == 8
    assert bypass.depth % 8 == 0


def test_a_table_follows_a_negative_or_zero_batchnorm_scale():
    model = random_bireal(seed=3, blocks=0)
    bn = model[6]
    with torch.no_grad():
        bn.weight[1] = -abs(bn.weight[1]) - 0.5
    plan = compile_model(model)
    table = next(n.op.table for n in plan.graph.nodes if isinstance(n.op, Requantize))
    assert (np.diff(table[1]) <= 0).all() and (table[0] == table[0, 0]).all()   # falling; constant
    x = _images(model, 100, 1)
    assert (plan.predict(x)[1] == torch_scores(model, x)).all()


@pytest.mark.parametrize("padding_mode, bnext", [("constant", False), ("replicate", False), ("constant", True)])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_pipeline_with_real_shortcuts_is_bit_exact_under_random_stalls(padding_mode, bnext, stall):
    """Producer and consumer stall at random: the fixed-point blocks neither deadlock nor lose data."""
    model = random_bireal(seed=3, padding_mode=padding_mode, bias=bnext, prelu=bnext)
    assert_pipeline_matches_reference(model, stall)


def test_save_and_load_keep_the_learnable_biases_and_prelus(tmp_path):
    model = random_bireal(seed=7, bias=True, prelu=True)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    x = _images(model, 50, 7)
    assert sum(isinstance(m, bnn.LearnableBias) for m in loaded.modules()) == 4
    assert sum(isinstance(m, torch.nn.PReLU) for m in loaded.modules()) == 3
    assert (torch_scores(loaded, x) == torch_scores(model, x)).all()


def test_a_bias_before_a_fixed_point_sign_becomes_a_threshold_per_channel():
    model = random_bireal(seed=6, bias=True)
    plan = compile_model(model)
    signs = [n.op for n in plan.graph.nodes if isinstance(n.op, FixedSign)]
    assert signs and all(s.thresholds is not None for s in signs)
    x = _images(model, 200, 6)
    assert (plan.predict(x)[1] == torch_scores(model, x)).all()
    # a bias that is exactly -1/2**frac ties at k = 1: sign(0) = +1, so the threshold is 1
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, bnn.LearnableBias):
                m.bias.fill_(-1 / 8)
    assert all((s.thresholds == 1).all() for s in (n.op for n in compile_model(model).graph.nodes)
               if isinstance(s, FixedSign) and s.thresholds is not None)


def test_the_shortcut_moves_fixed_point_values_32_bits_wide_in_the_baseline():
    plan = compile_model(random_bireal(seed=0, blocks=1))
    rows = {name: t for name, t, _, _ in plan_traffic(plan).rows}
    add = next(s for s in plan.stages if isinstance(s.op, Add))
    pixels = 6 * 5
    t = rows[add.name]
    assert t.fixed_bits == 2 * 8 * add.bypass.width * pixels    # each value written and read once
    assert t.fixed_values == 2 * 8 * pixels and t.fixed_adds == 8 * pixels
    b = real_valued_baseline(t)
    assert b.fixed_bits == 32 * t.fixed_values and b.real_ops == t.fixed_adds + t.channel_outputs
    assert real_valued_baseline(Traffic(int_ops=5, fixed_adds=5)).int_ops == 0


def _fixed_conv_stage(plan):
    return next(s for s in plan.stages if type(s.op).__name__ == "FixedConv")


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_the_downsampling_convolution_in_dsp_multipliers(stall):
    """``:dsp``: one DSP block per lane pair, fewer LUT4 than the bit planes, the same results (the
    pipeline under stalls against the reference)."""
    model = random_bireal((1, 6, 6), seed=8, downsample=True)
    name = _fixed_conv_stage(compile_model(model)).name
    planes, products = (compile_model(model, {name: Fold(2, 4, m)}) for m in (False, True))
    assert _fixed_conv_stage(products).cost.dsp == 8 and _fixed_conv_stage(planes).cost.dsp == 0
    assert _fixed_conv_stage(products).cost.lut4 < _fixed_conv_stage(planes).cost.lut4
    assert products.total.dsp == 8
    frames = _images(model, 3, 1)
    classes, scores = products.predict(frames)
    got = _simulate(products, frames, stall, seed=3)
    assert [g[0] for g in got] == list(classes) and all((g[1] == s).all() for g, s in zip(got, scores))


def test_too_many_multipliers_for_the_chip_fail_early_naming_the_layer():
    from bnn_hw.boards import get_board
    from bnn_hw.compiler import check_fit
    from bnn_hw.errors import FitError
    model = random_bireal((1, 6, 6), channels=16, seed=8, downsample=True)
    name = _fixed_conv_stage(compile_model(model)).name
    plan = compile_model(model, {name: Fold(2, 16, True)})
    capacity = {"lut4": 10 ** 6, "ff": 10 ** 6, "ebr": 10 ** 3, "dsp": get_board("ulx3s-12f").chip.dsp}  # 28
    with pytest.raises(FitError, match=f"needs about 32 DSP but LFE5U-12F has 28; layer {name} alone needs 32"):
        check_fit(plan, capacity, "LFE5U-12F")


def test_a_sum_wider_than_float32_holds_exactly_is_refused():
    wide = TensorType((4, 4, 2), Kind.INT, 25, 2)
    assert Add(2).infer((TensorType((4, 4, 2), Kind.INT, 24, 2),) * 2) == wide
    with pytest.raises(ValueError, match="more than float32"):
        Add(2).infer((wide, wide))


def _model(*layers, image=(1, 4, 4)):
    return torch.nn.Sequential(bnn.ImageInput(*image), *layers).eval()


def _head(channels=2, pixels=16):
    return [bnn.Sign(), torch.nn.Flatten(), bnn.BinaryLinear(channels * pixels, 2)]


def _prelu(slope):
    layer = torch.nn.PReLU(2)
    with torch.no_grad():
        layer.weight.fill_(slope)
    return layer


def _shift(bias):
    layer = bnn.LearnableBias(2)
    with torch.no_grad():
        layer.bias.fill_(bias)
    return layer


def _entry(pad_value=-1, frac=2, bits=5):
    return [bnn.BinaryConv2d(1, 2, 3, padding=1, pad_value=pad_value), torch.nn.BatchNorm2d(2), bnn.FixedPoint(frac, bits)]


@pytest.mark.parametrize("layers, message", [
    (_entry(pad_value=0) + _head(), "pads with -1, \\+1 or replicate"),
    ([bnn.BinaryConv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), bnn.Sign(), bnn.FixedPoint(2, 5)] + _head(),
     "rounds real values"),
    (_entry() + [bnn.RealShortcut(bnn.Sign(), bnn.BinaryConv2d(2, 2, 3, padding=1), torch.nn.BatchNorm2d(2),
                                  bnn.FixedPoint(3, 6))] + _head(), "same fraction bits"),
    (_entry() + [bnn.MultiSliceSign((-0.5, 0.5))] + _head(4), "Sign takes real values"),
    (_entry() + [torch.nn.BatchNorm2d(2), bnn.FixedPoint(2, 5)] + _head(), "takes numbers|cannot be folded"),
    (_entry() + [bnn.LearnableBias(2), bnn.MultiSliceSign((-0.5, 0.5)), torch.nn.Flatten(), bnn.BinaryLinear(64, 2)],
     "followed directly by a Sign"),
    (_entry() + [bnn.LearnableBias(3), bnn.Sign()] + _head(), "LearnableBias has 3 channels"),
    ([bnn.BinaryConv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), _prelu(-0.5), _shift(-1.0)] + _head(),
     "channel 0: the activation is not monotonic"),
])
def test_unsupported_fixed_point_models_get_one_line(layers, message):
    with pytest.raises(UnsupportedModelError, match=message) as e:
        compile_model(_model(*layers))
    assert "\n" not in str(e.value)
