"""The BoolNet-style example: its training script runs and compiles bit-exactly; the shipped model
matches PyTorch on the whole test set, and its shortcut FIFOs are as deep as computed."""

from example_testing import short_training_run


def test_one_short_training_run(tmp_path):
    short_training_run("fmnist_boolnet", tmp_path, ["--epochs", "1", "--channels", "16,32", "--hidden", "32",
                                                    "--train-images", "6000"],
                       min_accuracy=0.2, images=300)   # chance is 0.1
