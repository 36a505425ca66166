"""The sparse binary example: the shipped model matches PyTorch on the whole test set and keeps the
connections its metrics record; built unrolled it takes a frame per cycle after its input stage and
its estimate fits the ULX3S 85F. The slow tier runs the training script, the RTL on 200 test images
in both modes, and the full unrolled build."""

import json

import numpy as np
import pytest

import bnn_hw
from bnn_hw.boards.devices import DEVICES
from bnn_hw.boards.family import DP16KD
from bnn_hw.cli import main
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.driver import check_fit
from bnn_hw.compiler.folding import parse_folding
from bnn_hw.compiler.ops import SparseDense
from bnn_hw.datasets import fashion_mnist
from bnn_hw.sim.runner import simulate
from conftest import torch_scores
from example_testing import EXAMPLES, check_shipped_model, short_training_run

EXAMPLE = EXAMPLES / "fmnist_sparse"
#: The unrolled build of the README and the benchmark: 196 pixels a word (the UART most), all dense layers unrolled.
UNROLLED = "thermometer0=1x196,dense1=unrolled,dense4=unrolled,dense7=unrolled"


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    check_shipped_model("fmnist_sparse")


def test_shipped_model_keeps_the_connections_its_metrics_record():
    metrics = json.loads((EXAMPLE / "metrics.json").read_text())
    plan = compile_model(bnn_hw.load(EXAMPLE / "net.pt"))
    sparse = [s.op for s in plan.stages if isinstance(s.op, SparseDense)]
    assert [op.connections for op in sparse] == [row["synapses_kept"] for row in metrics["sparse_layers"]]
    assert all(op.connections <= metrics["config"]["expected"] * op.mask.size for op in sparse)
    assert metrics["config"]["expected"] <= 0.10


def test_unrolled_plan_takes_a_frame_per_cycle_after_its_input_and_fits_the_85f():
    plan = compile_model(bnn_hw.load(EXAMPLE / "net.pt"), parse_folding(UNROLLED), block_ram=DP16KD)
    assert [(s.name, s.cost.cycles, s.unrolled) for s in plan.stages] == [
        ("thermometer0", 4, False), ("dense1", 1, True), ("dense4", 1, True), ("dense7", 1, True),
        ("argmax", 1, False)]
    check_fit(plan, DEVICES["LFE5U-85F"].capacity(), "LFE5U-85F", headroom=0.8)


def test_fit_and_a_frame_rate_reach_the_unrolled_layers():
    """The unrolled build costs fewer LUT4 than a unit wide enough for the same rate, so --fit and
    --target-fps choose it (the binary search of --fit once stopped at a 53k-LUT4 folded unit)."""
    model = bnn_hw.load(EXAMPLE / "net.pt")
    fitted = compile_model(model, fit=("LFE5U-85F", DEVICES["LFE5U-85F"].capacity()), block_ram=DP16KD)
    assert {s.name for s in fitted.stages if s.unrolled} >= {"dense1", "dense4"}
    fast = compile_model(model, target_fps=3e6, clock_hz=100e6)
    assert next(s for s in fast.stages if s.name == "dense1").unrolled


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    short_training_run("fmnist_sparse", tmp_path, ["--epochs", "1", "--hidden", "64", "--validation", "57000"],
                       min_accuracy=0.6, images=500)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert all(row["beta_fraction"] <= 0.06 for row in metrics["sparse_layers"])


@pytest.mark.slow
@pytest.mark.parametrize("folding", [UNROLLED, None])
def test_shipped_model_on_200_fashion_mnist_images(tmp_path, folding):
    model = bnn_hw.load(EXAMPLE / "net.pt")
    plan = compile_model(model, folding and parse_folding(folding))
    frames = fashion_mnist("test")[0][:200]
    result = simulate(plan, frames, build_dir=tmp_path)
    classes, scores = plan.predict(frames)
    assert np.array_equal(result.scores, scores) and np.array_equal(result.classes, classes)
    assert np.array_equal(result.scores, torch_scores(model, frames))


@pytest.mark.slow
def test_second_layer_unrolled_ulx3s_build(tmp_path):
    """The sparse layer that routes unrolled today (the first layer's random connections do not
    route on the 85F: benchmarks/README.md) builds to a bitstream, with the report marking it."""
    out = tmp_path / "build"
    assert main(["build", "--board", "ulx3s", str(EXAMPLE / "net.pt"), "--folding", "dense4=unrolled,dense7=unrolled",
                 "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {row["name"] for row in report["layers"] if row.get("unrolled")} == {"dense4", "dense7"}
    assert (out / "bnn_hw.bit").stat().st_size > 0
    assert report["totals"]["fmax_mhz"]["value"]["achieved"] > 0
