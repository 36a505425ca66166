"""The CNV example: its training script runs and compiles bit-exactly; the shipped model matches
PyTorch on the whole test set and fails early with a named layer on a chip that is too small."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import bnn_hw
from bnn_hw.boards import get_board
from bnn_hw.compiler.plan import check_fit, compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.errors import FitError
from conftest import torch_scores

EXAMPLE = Path(__file__).parent.parent / "examples" / "fmnist_cnv"


def test_one_short_training_run(tmp_path):
    spec = importlib.util.spec_from_file_location("fmnist_cnv_train", EXAMPLE / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    out = tmp_path / "net.pt"
    train.main(["--epochs", "1", "--channels", "16,32,32", "--hidden", "32", "--train-images", "6000",
                "--pad-value", "0", "--out", str(out)])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5
    model = bnn_hw.load(out)
    images, _ = fashion_mnist("test")
    _, scores = compile_model(model).predict(images[:300])
    assert np.array_equal(scores, torch_scores(model, images[:300]))


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    model = bnn_hw.load(EXAMPLE / "net.pt")
    images, labels = fashion_mnist("test")
    classes, scores = compile_model(model).predict(images)
    assert np.array_equal(scores, torch_scores(model, images))
    metrics = json.loads((EXAMPLE / "metrics.json").read_text())
    assert np.mean(classes == labels) == pytest.approx(metrics["test_accuracy"], abs=1e-9)


def test_too_small_a_chip_fails_early_naming_layer_and_resource():
    board = get_board("ulx3s-12f")
    plan = compile_model(bnn_hw.load(EXAMPLE / "net.pt"))
    with pytest.raises(FitError, match=r"needs about \d+ (LUT4|EBR|FF) .* layer \w+"):
        check_fit(plan, board.chip.capacity(), board.device)
