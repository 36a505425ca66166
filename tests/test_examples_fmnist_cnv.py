"""The CNV example: its training script runs and compiles bit-exactly; the shipped model matches
PyTorch on the whole test set and fails early with a named layer on a chip that is too small."""

import bnn_hw
import pytest
from bnn_hw.boards import get_board
from bnn_hw.compiler import check_fit, compile_model
from bnn_hw.errors import FitError
from example_testing import EXAMPLES, check_shipped_model, short_training_run

EXAMPLE = EXAMPLES / "fmnist_cnv"


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    short_training_run("fmnist_cnv", tmp_path, ["--epochs", "1", "--channels", "16,32,32", "--hidden", "32",
                                                "--train-images", "6000", "--pad-value", "0"],
                       min_accuracy=0.5, images=300)


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    check_shipped_model("fmnist_cnv")


def test_too_small_a_chip_fails_early_naming_layer_and_resource():
    board = get_board("ulx3s-12f")
    plan = compile_model(bnn_hw.load(EXAMPLE / "net.pt"), block_ram=board.chip.block_ram)
    with pytest.raises(FitError, match=r"needs about \d+ (LUT4|EBR|FF) .* layer \w+"):
        check_fit(plan, board.chip.capacity(), board.device)
