"""BNext's joins in exact form: the Info-Recoupling mix (RecouplingShortcut), the ELM-attention
product (ProductShortcut), squeeze-and-excitation (a ProductShortcut around a GlobalSumPool, 1x1
convolutions, ReLU and Sigmoid), two branches side by side where the channels double
(ConcatShortcut with a ShortcutBranch), and the FixedPoint that rounds a joined value back to its
grid (Rescale)."""

import dataclasses
import re

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.ir import Kind, TensorType
from bnn_hw.compiler.ops import ChannelProduct, GlobalSum, LevelThresholds, Mix, Product, Rescale
from bnn_hw.compiler.reference import execute
from bnn_hw.errors import UnsupportedModelError
from conftest import random_bireal, torch_scores
from test_compiler_blocks import _images, assert_pipeline_matches_reference

ALL_JOINS = ("add", "mix", "product")


def test_recoupling_mixes_its_input_into_the_body_per_channel():
    block = bnn.RecouplingShortcut(torch.nn.Identity(), torch.nn.Identity(), channels=3, frac_bits=2)
    with torch.no_grad():
        block.mix.copy_(torch.tensor([0.0, 1.0, 0.3]))   # 0.3 rounds to 1/4
    body = bnn.RecouplingShortcut(bnn.FixedPoint(0, 4), channels=3, frac_bits=2)
    with torch.no_grad():
        body.mix.copy_(torch.tensor([0.0, 1.0, 0.3]))
    x = torch.tensor([[[[1.25]], [[1.25]], [[1.25]]]])
    assert block.mix_weights().tolist() == [0.0, 1.0, 0.25]
    assert body(x).flatten().tolist() == [1.0, 1.25, 0.25 * 1.25 + 0.75 * 1.0]


def test_the_mix_is_clamped_to_0_1_on_its_grid_and_trains():
    block = bnn.RecouplingShortcut(bnn.FixedPoint(2, 6), channels=2, frac_bits=3)
    with torch.no_grad():
        block.mix.copy_(torch.tensor([-0.4, 1.7]))
    assert block.mix_weights().tolist() == [0.0, 1.0]
    block.mix.data.copy_(torch.tensor([0.5, 0.5]))
    block(torch.randn(4, 2, 3, 3)).sum().backward()
    assert block.mix.grad is not None and block.mix.grad.abs().sum() > 0


def test_product_multiplies_element_by_element():
    block = bnn.ProductShortcut(bnn.FixedPoint(1, 5))
    x = torch.tensor([[0.75, -2.0]])
    assert block(x).tolist() == [[0.75, 4.0]]    # round(0.75 * 2) = 2 (half to even): 1.0 * 0.75


@pytest.mark.parametrize("joins, concat", [(("mix",), False), (("product",), True), (ALL_JOINS, False),
                                           (ALL_JOINS, True)])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_block_output_equals_pytorch(joins, concat, seed):
    """Each block's rounded result (the FixedPoint after it), value for value, and the scores; with
    ``concat`` the downsampling block's body is two convolutions side by side."""
    model = random_bireal((1, 6, 6), seed=seed, bias=True, prelu=True, downsample=True, joins=joins, blocks=3,
                          concat=concat)
    plan = compile_model(model)
    x = _images(model, 200, seed)
    rounded = [i for i, layer in enumerate(model) if isinstance(layer, bnn.FixedPoint)
               and isinstance(model[i - 1], bnn.RealShortcut)]
    assert [type(plan.graph.node(f"fixed{i}").op) for i in rounded] == [Rescale] * 4
    got, want, scores = _block_outputs(model, plan, x, rounded)
    for name in got:
        assert (got[name] == want[name]).all(), name
    assert (plan.predict(x)[1] == scores).all()


def _block_outputs(model, plan, x, layers):
    """The reference's and PyTorch's values after the model's ``layers`` (FixedPoints), as integers."""
    names = tuple(f"fixed{i}" for i in layers)
    got = execute(dataclasses.replace(plan.graph, outputs=names), x)
    captured = {}
    hooks = [model[i].register_forward_hook(lambda m, a, out, i=i: captured.__setitem__(i, out)) for i in layers]
    scores = torch_scores(model, x)
    for hook in hooks:
        hook.remove()
    want = {name: (captured[i] * 2 ** model[i].frac_bits).permute(0, 2, 3, 1).numpy() for i, name in zip(layers, names)}
    return got, want, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_squeeze_excitation_equals_pytorch(seed):
    """The block's rounded result value for value (its gates: two level-threshold stages, the second a
    sigmoid's steps, some falling), and the scores."""
    model = random_bireal((1, 6, 6), seed=seed, bias=True, prelu=True, downsample=True, se=True, blocks=1)
    plan = compile_model(model)
    at = next(i for i, layer in enumerate(model) if isinstance(layer, bnn.ProductShortcut))
    kinds = [type(plan.graph.node(f"{kind}{at}{suffix}").op) for kind, suffix in
             (("globalsum", "_0"), ("fixed", "_4"), ("fixed", "_8"), ("excite", ""))]
    assert kinds == [GlobalSum, LevelThresholds, LevelThresholds, ChannelProduct]
    x = _images(model, 300, seed)
    got, want, scores = _block_outputs(model, plan, x, [at + 1])
    assert (got[f"fixed{at + 1}"] == want[f"fixed{at + 1}"]).all()
    assert len(np.unique(got[f"fixed{at + 1}"])) > 10
    assert (plan.predict(x)[1] == scores).all()


def test_the_excitation_buffers_two_frames_of_the_map():
    model = random_bireal((1, 6, 6), seed=0, se=True, blocks=1)
    plan = compile_model(model)
    join = next(s for s in plan.stages if isinstance(s.op, ChannelProduct))
    assert join.bypass.depth == 2 * 36 * join.bypass.words_per_vector
    assert join.cost.cycles == 37 * -(-8 // join.fold.pe)


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_pipeline_with_every_bnext_join_is_bit_exact_under_random_stalls(stall):
    """Mix, product, squeeze-and-excitation and two branches side by side, producer and consumer
    stalling at random."""
    model = random_bireal((1, 6, 6), seed=2, bias=True, prelu=True, downsample=True, joins=ALL_JOINS, blocks=3,
                          concat=True, se=True)
    assert_pipeline_matches_reference(model, stall)


def test_save_and_load_keep_the_mixes_branches_and_excitation(tmp_path):
    model = random_bireal((1, 6, 6), seed=4, joins=("mix", "product"), downsample=True, concat=True, se=True)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    assert isinstance(loaded[8], bnn.RecouplingShortcut) and isinstance(loaded[10], bnn.ProductShortcut)
    assert isinstance(loaded[12][0], bnn.GlobalSumPool) and isinstance(loaded[12][3], torch.nn.ReLU)
    assert isinstance(loaded[14].body[-1], bnn.ConcatShortcut) and loaded[14].body[-1].branch is not None
    assert torch.equal(loaded[8].mix, model[8].mix) and loaded[8].frac_bits == 2
    x = _images(model, 20, 0)
    assert (torch_scores(model, x) == torch_scores(loaded, x)).all()


@pytest.mark.parametrize("in_frac, frac, width", [(5, 3, 6), (3, 3, 4), (0, 2, 8), (6, 0, 3), (4, 1, 10)])
def test_rescale_rounds_as_pytorch_does_on_every_value(in_frac, frac, width):
    k = np.arange(-(1 << 11), 1 << 11)
    x = torch.tensor(k / 2 ** in_frac, dtype=torch.float32)
    with torch.no_grad():
        want = bnn.FixedPoint(frac, width)(x) * 2 ** frac
    assert (Rescale(in_frac, frac, width).reference(k) == want.numpy()).all()


def test_widths_of_the_joins():
    body = TensorType((2, 2, 3), Kind.INT, 6, 3)
    assert Mix(np.array([0, 4, 2]), 2).infer((body, body.__class__((2, 2, 3), Kind.INT, 7, 3))) == \
        TensorType((2, 2, 3), Kind.INT, 9, 5)
    assert Product(3).infer((body, TensorType((2, 2, 3), Kind.INT, 5, 1))) == TensorType((2, 2, 3), Kind.INT, 11, 4)
    wide = TensorType((2, 2, 3), Kind.INT, 13, 3)
    with pytest.raises(ValueError, match="more than float32"):
        Product(3).infer((wide, wide))
    with pytest.raises(ValueError, match="0..4"):
        Mix(np.array([0, 5, 1]), 2)


def _entry():
    return [bnn.ImageInput(1, 4, 4), bnn.BinaryConv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), bnn.FixedPoint(2, 5)]


def _body(frac=2, bits=5):
    return [bnn.Sign(), bnn.BinaryConv2d(2, 2, 3, padding=1), torch.nn.BatchNorm2d(2), bnn.FixedPoint(frac, bits)]


def _head():
    return [bnn.Sign(), torch.nn.Flatten(), bnn.BinaryLinear(32, 2)]


@pytest.mark.parametrize("block, message", [
    (bnn.RecouplingShortcut(*_body(frac=3), channels=2), "same fraction bits"),
    (bnn.RecouplingShortcut(*_body(), channels=3), "mixes 3 channels"),
    (bnn.ProductShortcut(*_body(bits=21)), "product needs 26 bits, more than float32"),
    (bnn.RecouplingShortcut(*_body(bits=20), channels=2, frac_bits=8), "mix needs 28 bits"),
    (bnn.ConcatShortcut(bnn.ShortcutBranch(*_body(frac=3)), *_body()), "fixed-point values on one grid"),
    (bnn.ProductShortcut(bnn.ShortcutBranch(bnn.FixedPoint(2, 5)), bnn.GlobalSumPool()), "takes no ShortcutBranch"),
    (bnn.ProductShortcut(bnn.Sign(), bnn.GlobalSumPool()), "sums a fixed-point image"),
    (bnn.ProductShortcut(bnn.GlobalSumPool(), torch.nn.Sigmoid(), bnn.FixedPoint(2, 5)), "Sigmoid here cannot be folded"),
    (bnn.ConcatShortcut(bnn.ShortcutBranch(*_body()), *_body()[:-2], bnn.Sign()), "fixed-point values on one grid"),
])
def test_joins_that_do_not_meet_get_one_line_naming_the_layer(block, message):
    doubled = isinstance(block, bnn.ConcatShortcut)
    head = [bnn.Sign(), torch.nn.Flatten(), bnn.BinaryLinear(64, 2)] if doubled else _head()
    model = torch.nn.Sequential(*_entry(), block, bnn.FixedPoint(2, 5), *head).eval()
    with pytest.raises(UnsupportedModelError, match=message) as e:
        compile_model(model)
    # the layer, or its node (``sigmoid4_1``: in layer 4)
    assert "\n" not in str(e.value) and re.match(r"(layer 4[ .]|[a-z]+4_\d+: )", str(e.value))


def test_recoupling_arguments_are_checked():
    with pytest.raises(ValueError, match="frac_bits"):
        bnn.RecouplingShortcut(torch.nn.Identity(), channels=2, frac_bits=0)
    with pytest.raises(ValueError, match="channels"):
        bnn.RecouplingShortcut(torch.nn.Identity(), channels=0)
