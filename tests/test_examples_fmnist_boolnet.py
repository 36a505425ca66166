"""The BoolNet-style example: its training script runs and compiles bit-exactly; the shipped model
matches PyTorch on the whole test set, and its shortcut FIFOs are as deep as computed."""

import bnn_hw
import pytest

from bnn_hw.compiler.blocks import deadlock_free_depth
from bnn_hw.compiler import Block, compile_model
from example_testing import EXAMPLES, check_shipped_model, short_training_run


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    short_training_run("fmnist_boolnet", tmp_path, ["--epochs", "1", "--channels", "16,32", "--hidden", "32",
                                                    "--train-images", "6000"],
                       min_accuracy=0.2, images=300)   # chance is 0.1


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    check_shipped_model("fmnist_boolnet")


def test_shipped_model_is_all_one_bit_with_computed_shortcut_fifos():
    plan = compile_model(bnn_hw.load(EXAMPLES / "fmnist_boolnet" / "net.pt"))
    blocks = [item for item in plan.layout if isinstance(item, Block)]
    # deadlock-free: 3x3 convolutions with padding 1 on 14x14 and 7x7 images wait for two rows,
    # less the fork's word; the FIFOs get what the bodies' line buffers and units can take ahead
    minimum = [deadlock_free_depth(b.body, b.join.op.vectors_per_frame(b.join.in_type)) for b in blocks]
    assert minimum == [27, 27, 13]
    assert [(b.join.name, b.join.bypass.depth) for b in blocks] == [("xnor5", 85), ("xnor6", 85), ("xnor11", 43)]
    assert all(b.join.bypass.width == b.join.in_type.shape[-1] for b in blocks)   # one bit per channel
