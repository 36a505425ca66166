"""The logic-gate example: its training script runs and ends with a Boolean network that compiles
bit-exactly; the shipped model matches PyTorch on the whole test set (reference) and on 200 test
images in RTL, one frame per clock in the core."""

import numpy as np
import pytest

import bnn_hw
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.sim.runner import simulate
from bnn_hw.training import logic_layers
from conftest import torch_scores
from example_testing import EXAMPLES, check_shipped_model, short_training_run

EXAMPLE = EXAMPLES / "fmnist_logic"


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    short_training_run("fmnist_logic", tmp_path, ["--gates", "600,300", "--candidates", "2", "--epochs", "4",
                                                  "--train-images", "3000", "--lr", "0.05", "--batch-size", "50",
                                                  "--threads", "1"],
                       min_accuracy=0.5, images=500)
    assert all(layer.is_frozen for layer in logic_layers(bnn_hw.load(tmp_path / "net.pt")))


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    check_shipped_model("fmnist_logic")


def test_shipped_model_is_one_gate_network_at_one_frame_per_clock():
    """The gate layers and group sums fuse into one gate network that takes a frame every cycle; by
    default the frame arrives as 49 words of 16 pixels, so the input is the slowest stage."""
    plan = compile_model(bnn_hw.load(EXAMPLE / "net.pt"))
    assert [(stage.name, type(stage.op).__name__, stage.cost.cycles) for stage in plan.stages] == [
        ("thermometer0", "Thermometer", 49), ("logic1", "GateNetwork", 1), ("argmax", "ArgMax", 1)]


@pytest.mark.slow
def test_shipped_model_on_200_fashion_mnist_images(tmp_path):
    model = bnn_hw.load(EXAMPLE / "net.pt")
    plan = compile_model(model)
    images, _ = fashion_mnist("test")
    frames = images[:200]
    result = simulate(plan, frames, build_dir=tmp_path)
    classes, scores = plan.predict(frames)
    assert np.array_equal(result.scores, scores) and np.array_equal(result.classes, classes)
    assert np.array_equal(result.scores, torch_scores(model, frames))
