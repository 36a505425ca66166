"""cocotb simulations of the generated Verilog, compared bit for bit with the NumPy reference."""

from pathlib import Path

import numpy as np
import pytest

import bnn_hw
from bnn_hw.compiler.folding import Fold
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.sim.runner import simulate
from conftest import random_bireal, random_boolnet, random_cnn, random_mlp, torch_scores

EXAMPLES = Path(__file__).parent.parent / "examples"
SHIPPED = EXAMPLES / "fmnist_mlp" / "net.pt"


def _check(plan, frames, result):
    classes, scores = plan.predict(frames)
    assert np.array_equal(result.scores, scores), "hardware scores differ from the reference"
    assert np.array_equal(result.classes, classes), "hardware classes differ from the reference"


@pytest.mark.parametrize("folding, stall", [
    ({"thermometer0": Fold(1, 5), "dense1": Fold(4, 7), "dense4": Fold(3, 5), "dense7": Fold(4, 3)}, 0.4),
    ({"thermometer0": Fold(1, 1), "dense1": Fold(1, 1), "dense4": Fold(11, 37), "dense7": Fold(16, 64)}, 0.0),
])
def test_odd_sized_random_network(tmp_path, rng, folding, stall):
    """Sizes that are multiples of neither PE nor SIMD, under random stalls on both ports."""
    model = random_mlp(23, [37, 11], 10, seed=5, scale=True)
    plan = compile_model(model, folding)
    frames = rng.integers(0, 256, (24, 23), dtype=np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=stall, out_stall=stall, seed=7)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))


def test_icarus_runs_the_same_design(tmp_path, rng):
    model = random_mlp(9, [13], 5, seed=2, thresholds=(100,))
    plan = compile_model(model)
    frames = rng.integers(0, 256, (10, 9), dtype=np.uint8)
    _check(plan, frames, simulate(plan, frames, simulator="icarus", build_dir=tmp_path, out_stall=0.3))


def test_binary_input_network(tmp_path, rng):
    """A model without a Thermometer takes bit vectors directly."""
    model = random_mlp(30, [17], 6, seed=4, thresholds=())
    plan = compile_model(model)
    frames = rng.integers(0, 2, (12, 30), dtype=np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=0.2, out_stall=0.2)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, 2.0 * frames - 1))


def test_shipped_model_on_200_fashion_mnist_images(tmp_path):
    plan = compile_model(bnn_hw.load(SHIPPED))
    images, _ = fashion_mnist("test")
    frames = images[:200]
    result = simulate(plan, frames, build_dir=tmp_path)
    _check(plan, frames, result)
    # Steady state: one frame per slowest-stage interval (plus at most a few cycles of handover).
    assert result.cycles_per_frame <= plan.bottleneck.cost.cycles + 4


@pytest.mark.parametrize("config, folding, stall", [
    # zero padding (border-class thresholds) and +1 padding, stride 2, a pool, 8-bit pixels
    (dict(image=(1, 9, 7), convs=((4, 3, 1, 1, 0, 1), (5, 3, 2, 1, 1, 1)), pools=(0,), hidden=(6,),
          thresholds=(100, 200), scale=True), {}, 0.3),
    # a bit image, no padding, a 1x1 convolution, a pool after it, odd folding
    (dict(image=(2, 8, 6), convs=((3, 3, 1, 0, -1, 1), (4, 1, 1, 0, -1, 1)), pools=(1,), hidden=(),
          thresholds=()), {"conv1": Fold(2, 5), "conv4": Fold(3, 2)}, 0.3),
    # 5x5 kernel with padding 2 on a non-square image, stride 2 with odd sizes
    (dict(image=(1, 7, 10), convs=((3, 5, 2, 2, "replicate", 1),), hidden=(5,), thresholds=(128,)), {}, 0.0),
    # grouped convolutions, one with zero padding (a threshold table per border class and group)
    (dict(image=(1, 7, 6), convs=((6, 3, 1, 1, 0, 2), (4, 3, 2, 1, -1, 2)), hidden=(5,),
          thresholds=(90, 170)), {"conv2": Fold(2, 4)}, 0.3),
    # a first layer on 8-bit pixels (two channels, integer sums), then a binary convolution
    (dict(image=(2, 6, 7), convs=((4, 3, 1, 1, 0, 1), (3, 3, 2, 0, -1, 1)), hidden=(4,), thresholds=(),
          pixels=True, scale=True), {"conv1": Fold(3, 5)}, 0.3),
])
def test_random_convolutional_networks(tmp_path, config, folding, stall):
    model = random_cnn(**config, seed=3)
    plan = compile_model(model, folding)
    c, h, w = config["image"]
    binary = not config["thresholds"] and not config.get("pixels")
    frames = np.random.default_rng(0).integers(0, 2 if binary else 256, (10, h, w, c)).astype(np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=stall, out_stall=stall, seed=5)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, 2.0 * frames - 1 if binary else frames))


@pytest.mark.parametrize("op, stall", [("xnor", 0.3), ("or", 0.0)])
def test_logic_shortcut_networks(tmp_path, op, stall):
    """Fork-join blocks (a multi-slice grouped body, a concatenation) in Verilog, under random stalls."""
    model = random_boolnet(image=(1, 7, 6), op=op, seed=11, grouped=True, concat=op == "or")
    plan = compile_model(model)
    frames = np.random.default_rng(2).integers(0, 256, (8, 7, 6, 1)).astype(np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=stall, out_stall=stall, seed=3)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))


def test_real_shortcut_networks(tmp_path):
    """Bi-Real blocks (fixed-point tables, adders and signs) and a downsampling block (average pool,
    multiply-accumulate, level thresholds) in Verilog, under random stalls (the Amaranth pipeline
    tests cover both paddings with and without stalls)."""
    model = random_bireal(image=(1, 8, 6), seed=12, blocks=2, padding_mode="replicate", downsample=True)
    plan = compile_model(model)
    frames = np.random.default_rng(4).integers(0, 256, (8, 8, 6, 1)).astype(np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=0.3, out_stall=0.3, seed=5)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))


@pytest.mark.parametrize("example", ["fmnist_cnv", "fmnist_boolnet", "fmnist_bireal"])
def test_shipped_cnn_on_100_fashion_mnist_images(tmp_path, example):
    plan = compile_model(bnn_hw.load(EXAMPLES / example / "net.pt"))
    images, _ = fashion_mnist("test")
    frames = images[:100]
    result = simulate(plan, frames, build_dir=tmp_path)
    _check(plan, frames, result)
    assert result.cycles_per_frame <= plan.bottleneck.cost.cycles + 4
