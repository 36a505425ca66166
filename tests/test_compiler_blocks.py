"""Logic shortcuts (fork-join blocks) through the compiler: structure, reference, FIFO depth, and the
whole pipeline in simulation under random stalls."""

import gc
import sys

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.compiler import arrange as arrange_module
from bnn_hw.compiler.blocks import Shortcut, deadlock_free_depth, series_parallel
from bnn_hw.compiler.frontend import from_model
from bnn_hw.hdl.pipeline import build_pipeline
from bnn_hw.compiler import Block, compile_model
from bnn_hw.errors import UnsupportedModelError
from bnn_hw.compiler.io_layout import decode_result, input_words
from conftest import random_boolnet, torch_scores
from stream_testing import stream_through


def _images(model, n, seed):
    c, h, w = model[0].shape
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("op", ["xnor", "or"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_equals_pytorch(op, seed):
    model = random_boolnet(op=op, seed=seed, grouped=seed == 2, concat=seed == 1)
    x = _images(model, 200, seed)
    _, scores = compile_model(model).predict(x)
    assert (scores == torch_scores(model, x)).all()


def test_multi_slice_sign_is_a_thermometer_per_channel():
    sign = bnn.MultiSliceSign((-0.5, 0.0, 0.5)).eval()
    x = torch.tensor([[-1.0, -0.5, 0.25, 0.5]])
    assert sign(x).tolist() == [[-1, -1, -1, 1, -1, -1, 1, 1, -1, 1, 1, 1]]
    with pytest.raises(ValueError, match="increasing"):
        bnn.MultiSliceSign((0.5, 0.0))


def test_logic_shortcut_forms_are_exact_on_plus_minus_one():
    x = torch.tensor([[-1.0, -1.0, 1.0, 1.0]])
    body = torch.tensor([[-1.0, 1.0, -1.0, 1.0]])
    for op, expected in (("xnor", [1, -1, -1, 1]), ("or", [-1, 1, 1, 1])):
        block = bnn.LogicShortcut(torch.nn.Identity(), op=op)
        block[0] = _Constant(body)
        assert block(x).tolist() == [expected]


class _Constant(torch.nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return self.value


def test_series_parallel_structure_and_names():
    graph = from_model(random_boolnet())
    items = series_parallel(graph)
    blocks = [i for i in items if isinstance(i, Shortcut)]
    assert [b.join for b in blocks] == ["xnor5", "xnor6"]
    assert blocks[0].body == ("conv5_0", "batchnorm5_1", "sign5_2")
    assert blocks[0].fork == "sign4"


def test_save_and_load_keep_the_blocks(tmp_path):
    model = random_boolnet(op="or", seed=4)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    assert isinstance(loaded[5], bnn.LogicShortcut) and loaded[5].op == "or"
    assert isinstance(loaded[6][2], bnn.MultiSliceSign)
    x = _images(model, 20, 0)
    assert (torch_scores(model, x) == torch_scores(loaded, x)).all()


def _bodies(plan):
    return [(b.body, b.join) for b in plan.layout if isinstance(b, Block)]


def test_deadlock_free_depth_of_a_convolution_is_two_image_rows():
    plan = compile_model(random_boolnet(image=(1, 6, 5)))
    # 3x3, padding 1: output pixel (y, 0) waits for rows y and y + 1, all but one of them in the FIFO
    assert [deadlock_free_depth(body, 30) for body, _ in _bodies(plan)] == [2 * 5 - 1, 2 * 5 - 1]
    plan = compile_model(random_boolnet(image=(1, 6, 5), kernel=1))
    # the window generator works in whole image rows: even a 1x1 window waits for its row
    assert [deadlock_free_depth(body, 30) for body, _ in _bodies(plan)] == [4, 4]


def test_shortcut_depth_covers_the_line_buffer_the_body_fills_ahead():
    plan = compile_model(random_boolnet(image=(1, 6, 5)))
    # the window generator takes input until its 4 rows are full: from row y - 1 to row y + 2 while
    # it gives output row y, two windows behind, less the fork's word
    assert [join.bypass.depth for _, join in _bodies(plan)] == [4 * 5 - 1 + 2, 4 * 5 - 1 + 2]


def _simulate(plan, frames, stall, seed=0, max_cycles=100_000):
    pipeline = build_pipeline(plan)
    words = [w for f in frames for w in input_words(plan, f)]
    got = stream_through(pipeline, words, len(frames), stall=stall, seed=seed, max_cycles=max_cycles)
    return [decode_result(plan, word) for word in got]


@pytest.mark.parametrize("op, grouped, concat", [("xnor", False, False), ("or", False, True), ("xnor", True, False)])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_pipeline_with_shortcuts_is_bit_exact_under_random_stalls(op, grouped, concat, stall):
    """Producer and consumer stall at random: the fork-join blocks neither deadlock nor lose data."""
    assert_pipeline_matches_reference(random_boolnet(op=op, seed=7, grouped=grouped, concat=concat), stall)


def assert_pipeline_matches_reference(model, stall):
    """Three frames through the whole Amaranth pipeline, producer and consumer stalling with
    probability ``stall``: the classes and scores are the reference's."""
    plan = compile_model(model)
    frames = _images(model, 3, 1)
    classes, scores = plan.predict(frames)
    got = _simulate(plan, frames, stall, seed=3)
    assert [g[0] for g in got] == list(classes)
    assert all((g[1] == s).all() for g, s in zip(got, scores))


def test_the_shortcut_keeps_the_pipeline_at_its_slowest_stage():
    """Measured in simulation: frames leave every bottleneck-many cycles (benchmarks/shortcut_fifo.py
    shows what the deadlock-free depth alone costs)."""
    model = random_boolnet(image=(1, 14, 14), channels=8, seed=1)
    plan = compile_model(model)
    frames = _images(model, 4, 0)
    stamps = []
    words = [w for f in frames for w in input_words(plan, f)]
    stream_through(build_pipeline(plan), words, len(frames), stamps=stamps, max_cycles=400_000)
    assert set(np.diff(stamps)) == {plan.bottleneck.cost.cycles}


def test_multi_slice_grouped_body_composes_what_its_convolutions_wait_for():
    plan = compile_model(random_boolnet(image=(1, 6, 5), grouped=True))
    blocks = [item for item in plan.layout if isinstance(item, Block)]
    # the 1x1 convolution waits for a whole row of the 3x3's outputs, which waited for input rows y
    # and y + 1: still two rows
    assert deadlock_free_depth(blocks[-1].body, 30) == 2 * 5 - 1
    shuffle = next(s for s in plan.stages if s.name == "shuffle7_3")
    assert shuffle.cost.lut4 == 0


def test_concatenation_puts_the_shortcut_channels_first():
    plan = compile_model(random_boolnet(image=(1, 6, 5), channels=8, concat=True))
    join = plan.stages[[s.name for s in plan.stages].index("concat7")]
    assert join.out_type.shape == (6, 5, 12) and join.bypass.width == 8
    a = np.zeros((1, 2, 2, 4), np.uint8)
    b = np.ones((1, 2, 2, 8), np.uint8)
    assert (join.op.reference(a, b)[..., :8] == 1).all() and (join.op.reference(a, b)[..., 8:] == 0).all()


def test_channel_shuffle_matches_pytorch():
    from bnn_hw.compiler.ops import ChannelShuffle
    x = np.random.default_rng(0).integers(0, 2, (3, 2, 2, 12)).astype(np.uint8)
    torch_x = torch.from_numpy(x).permute(0, 3, 1, 2)
    expected = bnn.ChannelShuffle(4)(torch_x).permute(0, 2, 3, 1).numpy()
    assert (ChannelShuffle(4).reference(x) == expected).all()


@pytest.mark.parametrize("short", [0, 1])
def test_a_shortcut_fifo_one_word_short_of_the_deadlock_free_depth_deadlocks(monkeypatch, short):
    """The deadlock-free depth is the least that works: one word less and the fork, body and join
    wait on each other for ever."""
    monkeypatch.setattr(arrange_module, "shortcut_depth", lambda body, vectors: deadlock_free_depth(body, vectors) - short)
    model = random_boolnet(seed=7)
    plan = compile_model(model)
    if not short:
        frames = _images(model, 4, 1)
        classes, scores = plan.predict(frames)
        got = _simulate(plan, frames, 0.3)
        assert [g[0] for g in got] == list(classes)
        assert all(np.array_equal(g[1], s) for g, s in zip(got, scores))
        return
    with pytest.raises(AssertionError, match="did not finish"):
        _simulate(plan, _images(model, 1, 1), 0.0, max_cycles=20_000)
    # the stuck testbenches are closed here, quietly, not at some later collection
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None)
    gc.collect()


@pytest.mark.parametrize("layers, message", [
    ([bnn.ImageInput(1, 4, 4), bnn.LogicShortcut(bnn.BinaryConv2d(1, 1, 3, padding=1), torch.nn.BatchNorm2d(1),
                                                  bnn.Sign()),
      torch.nn.Flatten(), bnn.BinaryLinear(16, 2)], "needs a layer before it"),
    ([bnn.ImageInput(1, 4, 4), bnn.BinaryConv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), bnn.Sign(),
      bnn.LogicShortcut(bnn.BinaryConv2d(2, 2, 3), torch.nn.BatchNorm2d(2), bnn.Sign()),
      torch.nn.Flatten(), bnn.BinaryLinear(8, 2)], "equal shapes"),
    ([bnn.ImageInput(1, 4, 4), bnn.BinaryConv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), bnn.Sign(),
      bnn.LogicShortcut(bnn.BinaryConv2d(2, 2, 3, padding=1)),
      torch.nn.Flatten(), bnn.BinaryLinear(32, 2)], "joins bits"),
])
def test_unsupported_shortcuts_get_one_line(layers, message):
    with pytest.raises(UnsupportedModelError, match=message) as e:
        compile_model(torch.nn.Sequential(*layers).eval())
    assert "\n" not in str(e.value)
