"""The BNext-style example: its training script runs and compiles bit-exactly; the shipped model
matches PyTorch on the whole test set and is built from the parts bnn-hw keeps exact: an 8-bit first
convolution, biases before the signs folded into thresholds, tables for BatchNorm, PReLU and rounding,
a fixed-point residual stream mixed by Info-Recoupling with a real-valued downsampling branch, and an
8-bit last layer. The script's squeeze-and-excitation variant trains and compiles exactly too."""

import numpy as np
import pytest

import bnn_hw

from bnn_hw.boards.family import DP16KD
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.ops import (FixedConv, FixedDense, FixedSign, IntPixelConv2d, LevelThresholds, Mix,
                                 Requantize, Rescale)
from conftest import torch_scores
from example_testing import EXAMPLES, check_shipped_model, short_training_run, training_script


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    short_training_run("fmnist_bnext", tmp_path, ["--epochs", "1", "--channels", "8,16", "--blocks", "1,1",
                                                  "--hidden", "16", "--train-images", "3000"],
                       min_accuracy=0.2, images=200)   # chance is 0.1


@pytest.mark.slow
def test_one_short_training_run_with_recoupling_and_excitation(tmp_path):
    short_training_run("fmnist_bnext", tmp_path, ["--epochs", "1", "--channels", "8,16", "--blocks", "1,1",
                                                  "--hidden", "16", "--train-images", "3000", "--recouple", "--se"],
                       min_accuracy=0.2, images=200)


def test_the_recoupling_and_excitation_variant_compiles_exactly():
    model = training_script("fmnist_bnext").build_model(8, 16, 16, (1, 1), recouple=True, se=True).eval()
    plan = compile_model(model, block_ram=DP16KD)
    kinds = [type(node.op).__name__ for node in plan.graph.nodes]
    assert kinds.count("Mix") == 3 and kinds.count("ChannelProduct") == 2 and kinds.count("Rescale") == 5
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    assert (plan.predict(images)[1] == torch_scores(model, images)).all()


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    check_shipped_model("fmnist_bnext")


def test_shipped_model_is_built_from_the_exact_bnext_parts():
    plan = compile_model(bnn_hw.load(EXAMPLES / "fmnist_bnext" / "net.pt"), block_ram=DP16KD)
    ops = [node.op for node in plan.graph.nodes]
    count = {kind: sum(type(op) is kind for op in ops)
             for kind in (IntPixelConv2d, FixedSign, Requantize, Mix, Rescale, FixedConv, LevelThresholds,
                          FixedDense)}
    assert isinstance(ops[0], IntPixelConv2d) and ops[0].weight_bits <= 9   # 8-bit, one more if a channel flips
    # five blocks (four mixes and the downsampling block's), each rounded back to the map's grid, a bias
    # before each of their signs and the last one, a table after each binary convolution but the
    # first, the branch's level thresholds
    assert count[Mix] == 5 and count[Rescale] == 5 and count[FixedSign] == 6 and count[Requantize] == 6
    assert count[FixedConv] == 1 and count[LevelThresholds] == 1
    assert isinstance(ops[-2], FixedDense) and ops[-2].weight_bits <= 8
