"""The example's training script runs, saves a loadable model, and that model compiles bit-exactly."""

import importlib.util
import json
from pathlib import Path

import numpy as np

import bnn_hw
from bnn_hw.compiler.plan import compile_model
from bnn_hw.datasets import fashion_mnist
from conftest import torch_scores

SCRIPT = Path(__file__).parent.parent / "examples" / "fmnist_mlp" / "train.py"


def test_one_short_training_run(tmp_path):
    spec = importlib.util.spec_from_file_location("fmnist_train", SCRIPT)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    out = tmp_path / "net.pt"
    train.main(["--epochs", "1", "--hidden", "32", "--out", str(out)])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.7  # one epoch of a tiny net already learns
    model = bnn_hw.load(out)
    images, _ = fashion_mnist("test")
    classes, scores = compile_model(model).predict(images[:500])
    assert np.array_equal(scores, torch_scores(model, images[:500]))
