"""Folding: defaults, overrides from options and files, and clear errors."""

import json

import pytest

from bnn_hw.cli import main
from bnn_hw.compiler.folding import Fold, apply_folding, parse_folding
from bnn_hw.compiler.plan import compile_model
from bnn_hw.errors import BnnHwError
from conftest import random_mlp


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


@pytest.mark.parametrize("spec", ["dense1", "dense1=8", "dense1=0x4", "=3x3"])
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
