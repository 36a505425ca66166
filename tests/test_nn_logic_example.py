"""examples/fmnist_logic: the training script runs and its model reloads as a Boolean network (every
logic layer frozen). (The shipped net.pt and its check come with the trained model.)"""

import importlib.util
import json
from pathlib import Path

import pytest

import bnn_hw
from bnn_hw.training import logic_layers

EXAMPLE = Path(__file__).parent.parent / "examples" / "fmnist_logic"


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
