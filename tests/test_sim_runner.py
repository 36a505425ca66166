"""cocotb simulations of the generated Verilog, compared bit for bit with the NumPy reference.

The fast tier keeps one small random network of each layer kind in Verilator, under random stalls
(an odd-sized MLP, a CNN with padding, stride and a pool, a first layer on 8-bit pixels, logic
shortcuts around a multi-slice grouped body, real-valued shortcuts with a downsampling block, a
logic-gate network and a logic CNN, sparse layers unrolled and folded), and
the Icarus runs; the other random CNNs, the OR shortcut with a concatenation (no stalls), the wide
MLP folding, the bit-input MLP, the sparse CNN, the 8-bit first convolution and the shipped models
are in the slow tier.
"""

from pathlib import Path

import numpy as np
import pytest

import bnn_hw
from bnn_hw.compiler.folding import Fold
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.io_layout import input_words
from bnn_hw.datasets import fashion_mnist
from bnn_hw.sim.runner import simulate
from bnn_hw.compiler.folding import parse_folding
from conftest import (random_bireal, random_boolnet, random_cnn, random_logic, random_logic_cnn, random_mlp,
                      random_sparse_cnn, random_sparse_mlp, torch_scores, with_fixed_last)

EXAMPLES = Path(__file__).parent.parent / "examples"
SHIPPED = EXAMPLES / "fmnist_mlp" / "net.pt"


def _check(plan, frames, result):
    classes, scores = plan.predict(frames)
    assert np.array_equal(result.scores, scores), "hardware scores differ from the reference"
    assert np.array_equal(result.classes, classes), "hardware classes differ from the reference"


#: Cycles of fixed pipeline depth a stage may add to a frame's latency beyond its per-frame cycles
#: (registers around the weight ROM, the popcount or adder tree, the accumulators and thresholds,
#: output buffers, the gearboxes between stages); measured 4 to 8 a stage on the MLPs here.
STAGE_DEPTH = 16


def _check_timing(plan, result, steady_from=2):
    """A run without stalls keeps the plan's pace: from the ``steady_from``-th result on, results
    come every ``plan.bottleneck.cost.cycles`` (B) cycles, to within 10%.

    Not faster: the slowest stage needs B cycles for every frame (an interval below B means the cost
    model counts cycles the hardware does not spend). Not slower than 1.1 B: the cost model leaves
    out handover cycles between frames; measured, none where a dense layer or a padded convolution is
    the bottleneck (the shipped MLP gives exactly 208 = B), 12 in 216 (5.6%) for an unpadded bit-image
    convolution (Amaranth simulation of the same design). The mean interval is what
    ``cycles_per_frame`` reports.

    The first frame's latency (first word in to result out) is at least B and at least its input
    words (one a cycle), and at most the sum of every stage's cycles per frame (each stage handling
    the frame alone, one after another) plus ``STAGE_DEPTH`` cycles a stage."""
    bottleneck = plan.bottleneck.cost.cycles
    intervals = np.diff(result.out_cycles)[steady_from - 1:]
    assert len(intervals) >= 4, "too few frames for a steady state"
    assert bottleneck <= intervals.min() and intervals.max() <= 1.1 * bottleneck, \
        f"frames every {sorted(set(intervals.tolist()))} cycles, the plan says {bottleneck} ({plan.bottleneck.name})"
    assert bottleneck <= result.cycles_per_frame <= 1.1 * bottleneck
    words = len(input_words(plan, np.zeros(plan.input_type.size, np.uint8)))
    most = sum(stage.cost.cycles for stage in plan.stages) + STAGE_DEPTH * len(plan.stages)
    assert max(bottleneck, words) <= result.latency_cycles <= most, \
        f"latency {result.latency_cycles} cycles, expected {max(bottleneck, words)}..{most}"


@pytest.mark.parametrize("folding, stall", [
    ({"thermometer0": Fold(1, 5), "dense1": Fold(4, 7), "dense4": Fold(3, 5), "dense7": Fold(4, 3)}, 0.4),
    pytest.param({"thermometer0": Fold(1, 1), "dense1": Fold(1, 1), "dense4": Fold(11, 37), "dense7": Fold(16, 64)},
                 0.0, marks=pytest.mark.slow),
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


def test_icarus_runs_a_sliding_window(tmp_path):
    """A padded 3x3 convolution and a floor-mode pool on Icarus, to the drain check's end: with the
    cocotb runner's -g2012, the window's line-buffer write address (an ``always @*`` output) stayed X
    for the first row, the writes were lost and the pipeline gave a frame more (runner.ICARUS_ARGS)."""
    model = random_cnn(image=(1, 9, 7), convs=((4, 3, 1, 1, -1, 1),), pools=(0,), seed=3)
    plan = compile_model(model)
    frames = np.random.default_rng(0).integers(0, 256, (4, 9, 7, 1)).astype(np.uint8)
    result = simulate(plan, frames, simulator="icarus", build_dir=tmp_path, in_stall=0.3, out_stall=0.3)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))


@pytest.mark.slow
def test_binary_input_network(tmp_path, rng):
    """A model without a Thermometer takes bit vectors directly."""
    model = random_mlp(30, [17], 6, seed=4, thresholds=())
    plan = compile_model(model)
    frames = rng.integers(0, 2, (12, 30), dtype=np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=0.2, out_stall=0.2)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, 2.0 * frames - 1))


@pytest.mark.parametrize("network", [
    "dense-bound",
    "argmax-bound",   # the argmax head's buffer once took a score every other cycle
])
def test_frame_interval_and_latency_agree_with_the_plan(tmp_path, network):
    """Without stalls, frames leave at the plan's pace and with a latency within computed bounds
    (:func:`_check_timing`), and the timing does not depend on the data: another run on other
    frames takes and gives every word in the same cycles."""
    if network == "dense-bound":     # dense1 (37 outputs of 69 bits, 4x7 lanes) takes 10 x 10 cycles a frame
        plan = compile_model(random_mlp(23, [37, 11], 10, seed=5, scale=True),
                             {"thermometer0": Fold(1, 5), "dense1": Fold(4, 7), "dense4": Fold(3, 5),
                              "dense7": Fold(4, 3)})
    else:                            # the argmax head over 5 scores (5 cycles) is the slowest stage
        # (dense4 in 2 cycles: a one-cycle layer would get the comparator tree, one frame a cycle)
        plan = compile_model(random_mlp(9, [13], 5, seed=2, thresholds=(100,)), {"dense4": Fold(5, 7)})
        assert plan.bottleneck.name == "argmax" and plan.bottleneck.cost.cycles == 5
    runs = []
    for seed in (0, 1):
        frames = np.random.default_rng(seed).integers(0, 256, (12, plan.input_type.size), dtype=np.uint8)
        runs.append(simulate(plan, frames, simulator="icarus", build_dir=tmp_path / str(seed)))
        _check(plan, frames, runs[-1])
        _check_timing(plan, runs[-1])
    assert np.array_equal(runs[0].in_cycles, runs[1].in_cycles)
    assert np.array_equal(runs[0].out_cycles, runs[1].out_cycles)


@pytest.mark.slow
def test_shipped_model_on_200_fashion_mnist_images(tmp_path):
    plan = compile_model(bnn_hw.load(SHIPPED))
    images, _ = fashion_mnist("test")
    frames = images[:200]
    result = simulate(plan, frames, build_dir=tmp_path)
    _check(plan, frames, result)
    _check_timing(plan, result)


@pytest.mark.parametrize("config, folding, stall", [
    # zero padding (border-class thresholds) and +1 padding, stride 2, a pool, 8-bit pixels
    (dict(image=(1, 9, 7), convs=((4, 3, 1, 1, 0, 1), (5, 3, 2, 1, 1, 1)), pools=(0,), hidden=(6,),
          thresholds=(100, 200), scale=True), {}, 0.3),
    # a bit image, no padding, a 1x1 convolution, a pool after it, odd folding
    pytest.param(dict(image=(2, 8, 6), convs=((3, 3, 1, 0, -1, 1), (4, 1, 1, 0, -1, 1)), pools=(1,), hidden=(),
                      thresholds=()), {"conv1": Fold(2, 5), "conv4": Fold(3, 2)}, 0.3, marks=pytest.mark.slow),
    # 5x5 kernel with padding 2 on a non-square image, stride 2 with odd sizes
    pytest.param(dict(image=(1, 7, 10), convs=((3, 5, 2, 2, "replicate", 1),), hidden=(5,), thresholds=(128,)), {},
                 0.0, marks=pytest.mark.slow),
    # grouped convolutions, one with zero padding (a threshold table per border class and group)
    pytest.param(dict(image=(1, 7, 6), convs=((6, 3, 1, 1, 0, 2), (4, 3, 2, 1, -1, 2)), hidden=(5,),
                      thresholds=(90, 170)), {"conv2": Fold(2, 4)}, 0.3, marks=pytest.mark.slow),
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


@pytest.mark.parametrize("op, stall", [("xnor", 0.3), pytest.param("or", 0.0, marks=pytest.mark.slow)])
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


def test_bnext_parts_network(tmp_path):
    """BNext's parts in Verilog under random stalls: a learnable bias before every sign (thresholds
    per channel on the fixed-point map), PReLUs in the fixed-point tables, an 8-bit last layer, the
    downsampling convolution's multipliers in DSP blocks (``:dsp``), and the blocks joined by an
    Info-Recoupling mix, an ELM product and (downsampling) a mix with a branch, each rounded back to
    the map's grid, whose body is two convolutions side by side, and a squeeze-and-excitation block
    (a global sum, two 1x1 convolutions with ReLU and sigmoid levels, the per-channel scaling)."""
    model = with_fixed_last(random_bireal(image=(1, 8, 6), seed=13, blocks=2, downsample=True, bias=True,
                                          prelu=True, joins=("mix", "product"), concat=True, se=True), seed=13)
    conv = next(n.name for n in compile_model(model).graph.nodes if type(n.op).__name__ == "FixedConv")
    plan = compile_model(model, {conv: Fold(2, 4, multipliers=True)})
    assert plan.total.dsp == 8
    frames = np.random.default_rng(5).integers(0, 256, (8, 8, 6, 1)).astype(np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=0.3, out_stall=0.3, seed=6)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))


@pytest.mark.slow
def test_integer_pixel_convolution_network(tmp_path):
    """BNext's 8-bit first convolution in Verilog under random stalls, its weights as bit planes in
    one build and in DSP multipliers (unsigned pixels times signed weights) in the other."""
    model = random_cnn(image=(2, 6, 7), convs=((4, 3, 1, 1, 0, 1), (3, 3, 2, 0, -1, 1)), hidden=(4,), thresholds=(),
                       pixels=True, weight_bits=8, seed=3)
    frames = np.random.default_rng(1).integers(0, 256, (8, 6, 7, 2)).astype(np.uint8)
    for name, fold in (("planes", Fold(3, 5)), ("dsp", Fold(2, 6, multipliers=True))):
        plan = compile_model(model, {"conv1": fold})
        result = simulate(plan, frames, build_dir=tmp_path / name, in_stall=0.3, out_stall=0.3, seed=5)
        _check(plan, frames, result)
        assert np.array_equal(result.scores, torch_scores(model, frames))


def test_logic_gate_networks(tmp_path):
    """A random logic-gate network (every function, constants and inputs read twice among its gates)
    fed a whole frame per word: under random stalls, then without, one frame per cycle."""
    model = random_logic(20, (60, 40), 4, candidates=2, seed=7)
    plan = compile_model(model, {"thermometer0": Fold(1, 20), "logic1": Fold(4, 1)})
    frames = np.random.default_rng(5).integers(0, 256, (40, 20)).astype(np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path / "stalls", in_stall=0.3, out_stall=0.3, seed=4)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))
    result = simulate(plan, frames, build_dir=tmp_path / "steady")
    _check(plan, frames, result)
    _check_timing(plan, result)
    assert plan.bottleneck.cost.cycles == 1


def test_logic_convolution_network(tmp_path):
    """Gate trees on sliding windows, an OR pool, gate layers and group sums, under random stalls."""
    model = random_logic_cnn((1, 8, 7), ((6, 3, 2, 1, 1),), 2, (24,), 3, candidates=2, seed=9)
    plan = compile_model(model)
    frames = np.random.default_rng(6).integers(0, 256, (6, 8, 7, 1)).astype(np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=0.3, out_stall=0.3, seed=2)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))


def test_sparse_networks_unrolled_and_folded(tmp_path):
    """Sparse {alpha, beta} layers in both modes and an unrolled binary layer, under random stalls;
    then all unrolled with a frame per word, without stalls: one frame per cycle."""
    model = random_sparse_mlp(20, [30, 17], 5, seed=8, slices=3, densities=[0.1, 0.3])
    frames = np.random.default_rng(7).integers(0, 256, (40, 20)).astype(np.uint8)
    plan = compile_model(model, parse_folding("dense1=unrolled,dense4=4x7,dense7=unrolled"))
    result = simulate(plan, frames, build_dir=tmp_path / "stalls", in_stall=0.3, out_stall=0.3, seed=6)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))
    plan = compile_model(model, parse_folding("thermometer0=1x20,dense1=unrolled,dense4=unrolled,dense7=unrolled"))
    result = simulate(plan, frames, build_dir=tmp_path / "steady")
    _check(plan, frames, result)
    _check_timing(plan, result)
    assert plan.bottleneck.cost.cycles == 1


@pytest.mark.slow
def test_sparse_convolution_network(tmp_path):
    """A sparse convolution unrolled (whole windows) and one folded, a sparse head, under random stalls."""
    model = random_sparse_cnn((1, 8, 7), ((5, 3, 1, 1, -1), (4, 2, 2, 0, 1)), (6,), 3, seed=4)
    plan = compile_model(model, parse_folding("conv2=5x9,conv5=2x3"))
    assert plan.stages[1].unrolled
    frames = np.random.default_rng(8).integers(0, 256, (6, 8, 7, 1)).astype(np.uint8)
    result = simulate(plan, frames, build_dir=tmp_path, in_stall=0.3, out_stall=0.3, seed=9)
    _check(plan, frames, result)
    assert np.array_equal(result.scores, torch_scores(model, frames))


#: The foldings the shipped CNNs are built with where it is not the default (the README's builds):
#: the BNext-style network's first convolution at 12x3, 12 cycles per window.
#: At its default 16x3 the estimate says 9 cycles per window, but this test measured 12 (9,408 per
#: frame, not 7,056); which part sets that pace (window generator, gearbox or unit) is not yet found.
BUILT_FOLDINGS = {"fmnist_bnext": "conv1=12x3"}


@pytest.mark.slow
@pytest.mark.parametrize("example", ["fmnist_cnv", "fmnist_boolnet", "fmnist_bireal", "fmnist_bnext"])
def test_shipped_cnn_on_100_fashion_mnist_images(tmp_path, example):
    folding = parse_folding(BUILT_FOLDINGS[example]) if example in BUILT_FOLDINGS else None
    plan = compile_model(bnn_hw.load(EXAMPLES / example / "net.pt"), folding)
    images, _ = fashion_mnist("test")
    frames = images[:100]
    result = simulate(plan, frames, build_dir=tmp_path)
    _check(plan, frames, result)
    _check_timing(plan, result)
