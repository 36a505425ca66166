"""The Brevitas examples (FINN's LFC, and a CNV-like network): the shipped ``net.onnx`` imports
exactly (bnn-hw's reference on all 10,000 test images gives the accuracy in ``metrics.json`` and
equals ``execute_onnx`` on 100 of them); in the slow tier, its RTL equals ``execute_onnx`` on 100
test images and the training script runs."""

import importlib.util
import json

import numpy as np
import pytest

from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.onnx_import import golden_outputs, import_onnx
from conftest import torch_scores
from example_testing import EXAMPLES

EXAMPLE_NAMES = ["brevitas_lfc", "brevitas_cnv"]

#: A short training run of each: its options and the accuracy it must pass after one epoch.
SHORT_RUNS = {"brevitas_lfc": (["--hidden", "64"], 0.6),
              "brevitas_cnv": (["--channels", "8,16", "--hidden", "32"], 0.5)}


def _shipped(example: str):
    return EXAMPLES / example / "net.onnx"


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_shipped_model_accuracy_and_golden_model(example):
    imported = import_onnx(_shipped(example), check_frames=0)
    images, labels = fashion_mnist("test")
    classes, scores = compile_model(imported.model).predict(images)
    assert np.array_equal(scores, torch_scores(imported.model, images))
    metrics = json.loads((_shipped(example).parent / "metrics.json").read_text())
    assert np.mean(classes == labels) == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    golden = golden_outputs(imported, images[:100])
    assert np.array_equal(imported.onnx_outputs(scores[:100]), golden)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_shipped_model_rtl_on_100_images_against_execute_onnx(tmp_path, example):
    from bnn_hw.sim.runner import simulate

    imported = import_onnx(_shipped(example), check_frames=0)
    images = fashion_mnist("test")[0][:100]
    result = simulate(compile_model(imported.model), images, build_dir=tmp_path)
    golden = golden_outputs(imported, images)
    assert np.array_equal(imported.onnx_outputs(result.scores), golden)
    assert np.array_equal(result.classes, golden.argmax(axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_one_short_training_run(tmp_path, example):
    spec = importlib.util.spec_from_file_location(f"{example}_train", EXAMPLES / example / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    options, accuracy = SHORT_RUNS[example]
    metrics = train.main(options + ["--epochs", "1", "--golden", "50", "--out", str(tmp_path / "net.onnx")])
    assert metrics["test_accuracy"] > accuracy
    assert metrics["brevitas_agreement"] > 0.99
    assert json.loads((tmp_path / "metrics.json").read_text())["execute_onnx_exact_images"] == 50
