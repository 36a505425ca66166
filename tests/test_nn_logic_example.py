"""examples/fmnist_logic: the training script runs and its model reloads exactly; the shipped net.pt is
a Boolean network (every logic layer frozen) whose test accuracy is its metrics.json's."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.datasets import fashion_mnist
from bnn_hw.training import accuracy, logic_layers

EXAMPLE = Path(__file__).parent.parent / "examples" / "fmnist_logic"


def test_shipped_model_is_boolean_and_has_its_measured_accuracy():
    model = bnn_hw.load(EXAMPLE / "net.pt")
    metrics = json.loads((EXAMPLE / "metrics.json").read_text())
    layers = logic_layers(model)
    assert layers and all(layer.is_frozen for layer in layers)
    assert isinstance(model[-1], bnn.GroupSum) and model[-1].classes == 10
    assert sum(layer.gates for layer in layers) == metrics["gates"]
    assert layers[-1].gates == metrics["output_bits"]
    codes = np.concatenate([layer.netlist()[2] for layer in layers])
    assert np.bincount(codes, minlength=16).tolist() == metrics["gates_by_function"]
    images, labels = (torch.from_numpy(a) for a in fashion_mnist("test"))
    assert accuracy(model, images, labels) == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    with torch.no_grad():
        scores = model(images[:500].float())
    assert torch.equal(scores, scores.round()) and scores.min() >= 0 and scores.max() <= layers[-1].gates // 10


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    spec = importlib.util.spec_from_file_location("fmnist_logic_train", EXAMPLE / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    out = tmp_path / "net.pt"
    train.main(["--gates", "600,300", "--candidates", "2", "--epochs", "4", "--train-images", "3000", "--lr", "0.05",
                "--batch-size", "50",
                "--threads", "1", "--out", str(out)])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5 and metrics["gates"] == 900
    model = bnn_hw.load(out)
    assert all(layer.is_frozen for layer in logic_layers(model))
