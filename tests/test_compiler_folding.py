"""Folding: defaults, overrides from options and files, and clear errors."""

import json

import pytest

from bnn_hw.cli import main
from bnn_hw.compiler.folding import Fold, parse_folding
from bnn_hw.compiler.ops import Requantize
from bnn_hw.compiler import compile_model
from bnn_hw.errors import BnnHwError
from conftest import random_bireal, random_mlp


def test_defaults_keep_every_stage_within_the_biggest_layers_cycles():
    plan = compile_model(random_mlp(100, [64, 30], 10, seed=0))
    slowest = max(s.cost.cycles for s in plan.stages)
    assert plan.folds["dense1"] == Fold(16, 64)
    assert slowest == plan.stages[1].cost.cycles
    assert plan.folds["argmax"].simd == plan.folds["dense7"].pe


def test_overrides_from_options_and_file(tmp_path):
    assert parse_folding("dense1=8x32, dense4=2x5") == {"dense1": Fold(8, 32), "dense4": Fold(2, 5)}
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"dense4": {"pe": 3, "simd": 7}}))  # the score layer
    plan = compile_model(random_mlp(10, [12], 5, seed=0), parse_folding(str(path)))
    assert plan.folds["dense4"] == Fold(3, 7)
    assert plan.folds["argmax"] == Fold(1, 3)  # the argmax head follows the score layer's pe


def test_multipliers_are_asked_for_per_layer_and_only_where_a_layer_multiplies(tmp_path):
    assert parse_folding("conv1=1x16:dsp, dense4=2x5") == {"conv1": Fold(1, 16, True), "dense4": Fold(2, 5)}
    assert str(Fold(1, 16, True)) == "1x16:dsp"
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"conv1": {"pe": 1, "simd": 16, "multipliers": True}}))
    assert parse_folding(str(path)) == {"conv1": Fold(1, 16, True)}
    with pytest.raises(BnnHwError, match="only multiply-accumulate layers with multi-bit weights"):
        compile_model(random_mlp(10, [12], 5, seed=0), parse_folding("dense1=2x4:dsp"))


@pytest.mark.parametrize("spec", ["dense1", "dense1=8", "dense1=0x4", "=3x3", "dense1=2x2:lut"])
def test_bad_options(spec):
    with pytest.raises((BnnHwError, ValueError)):
        parse_folding(spec)


def test_unknown_layer_is_named(capsys, tmp_path):
    path = tmp_path / "m.pt"
    import bnn_hw
    bnn_hw.save(random_mlp(10, [12], 5, seed=0), path)
    assert main(["report", str(path), "--folding", "dense9=2x2"]) == 2
    err = capsys.readouterr().err
    assert "dense9" in err and "dense1" in err


def test_target_fps_picks_the_cheapest_folding_that_meets_it():
    model = random_mlp(100, [64, 30], 10, seed=0)
    for fps in (1e5, 1e6, 4e6):
        plan = compile_model(model, target_fps=fps, clock_hz=100e6)
        assert plan.bottleneck.cost.cycles <= 100e6 / fps
    cheap, fast = (compile_model(model, target_fps=f, clock_hz=100e6) for f in (1e5, 4e6))
    assert cheap.total.lut4 < fast.total.lut4


def test_fit_gives_the_fastest_folding_within_the_headroom():
    from bnn_hw.boards import get_board
    from bnn_hw.compiler import FIT_HEADROOM

    model = random_mlp(784, [256, 256], 10, seed=0, thresholds=(16,))
    small, big = (get_board(b).chip for b in ("ulx3s-12f", "ulx3s-85f"))
    on_small = compile_model(model, fit=(small.name, small.capacity()), block_ram=small.block_ram)
    on_big = compile_model(model, fit=(big.name, big.capacity()), block_ram=big.block_ram)
    for plan, chip in ((on_small, small), (on_big, big)):
        assert all(getattr(plan.total, k) <= v * FIT_HEADROOM for k, v in chip.capacity().items())
    assert on_big.bottleneck.cost.cycles < on_small.bottleneck.cost.cycles


def test_impossible_targets_are_clear_errors():
    model = random_mlp(100, [64], 10, seed=0)
    with pytest.raises(BnnHwError, match="frames/s"):
        compile_model(model, target_fps=1e9, clock_hz=25e6)
    with pytest.raises(BnnHwError, match="does not fit"):
        compile_model(random_mlp(784, [2048, 2048], 10, seed=0), fit=("tiny", {"ebr": 4}))


@pytest.mark.parametrize("budget", [1024, 2048, 3000, 20000])
def test_cheapest_folding_is_the_fewest_lanes_then_the_fewest_cycles(budget):
    from bnn_hw.compiler.folding import MAX_ROM_DEPTH, folding_for_cycles
    from bnn_hw.compiler.frontend import from_model
    from bnn_hw.compiler.ops.base import LANE_CHOICES

    graph = from_model(random_mlp(784, [1024], 10, seed=0, thresholds=(16,)))
    dense = next(n for n in graph.nodes if n.name.startswith("dense"))
    in_type = graph.types()[dense.inputs[0]]
    fold = folding_for_cycles(graph, budget)[dense.name]
    cycles = dense.op.cycles(in_type, fold)
    # a dense unit's weight ROM is as deep as its cycles per frame: no deeper than MAX_ROM_DEPTH
    budget = min(budget, MAX_ROM_DEPTH)
    assert cycles <= budget and dense.op.memory_depth(in_type, fold) <= MAX_ROM_DEPTH
    max_pe, max_simd = dense.op.lanes(in_type)
    for pe in LANE_CHOICES:
        for simd in LANE_CHOICES:
            pe, simd = min(pe, max_pe), min(simd, max_simd)
            other = dense.op.cycles(in_type, Fold(pe, simd))
            if other <= budget:
                assert pe * simd > fold.pe * fold.simd or (pe * simd == fold.pe * fold.simd and other >= cycles)


def test_a_table_lookup_takes_its_producers_words_in_as_few_lanes_as_keep_up():
    plan = compile_model(random_bireal(image=(1, 6, 5), channels=8), {"conv5": Fold(8, 9)})
    stages = {s.name: s for s in plan.stages}
    # conv5 takes max(NF * SF, 3 * 3) = 9 cycles per pixel with 8 lanes of scores: one table lane
    # gives its 8 values in 8 cycles, keeping up
    assert stages["fixed7"].fold == Fold(1, 8)
    assert stages["fixed7"].cost.cycles <= stages["conv5"].cost.cycles
    assert Requantize.lanes_within(stages["fixed7"].op, 8, 3) == 4   # 8 values in 3 cycles: 4 lanes
    assert Requantize.lanes_within(stages["fixed7"].op, 6, 1) == 6   # none keeps up: all of them
