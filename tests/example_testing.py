"""Checks every shipped example gets: a short run of its training script, and its shipped model."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import bnn_hw
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from conftest import torch_scores

EXAMPLES = Path(__file__).parent.parent / "examples"

__all__ = ["EXAMPLES", "training_script", "short_training_run", "check_shipped_model"]


def training_script(example: str):
    """``examples/<example>/train.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"{example}_train", EXAMPLES / example / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    return train


def short_training_run(example: str, tmp_path, args: list[str], *, min_accuracy: float, images: int) -> None:
    """Run ``examples/<example>/train.py`` with ``args``: it learns (test accuracy above
    ``min_accuracy``) and its saved model compiles bit-exactly on ``images`` test images."""
    train = training_script(example)
    out = tmp_path / "net.pt"
    train.main(args + ["--out", str(out)])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] > min_accuracy
    model = bnn_hw.load(out)
    test_images, _ = fashion_mnist("test")
    _, scores = compile_model(model).predict(test_images[:images])
    assert np.array_equal(scores, torch_scores(model, test_images[:images]))


def check_shipped_model(example: str) -> None:
    """The shipped ``net.pt``: reference == PyTorch on all 10,000 test images, and the accuracy in its
    ``metrics.json``."""
    model = bnn_hw.load(EXAMPLES / example / "net.pt")
    images, labels = fashion_mnist("test")
    classes, scores = compile_model(model).predict(images)
    assert np.array_equal(scores, torch_scores(model, images))
    metrics = json.loads((EXAMPLES / example / "metrics.json").read_text())
    assert np.mean(classes == labels) == pytest.approx(metrics["test_accuracy"], abs=1e-9)
