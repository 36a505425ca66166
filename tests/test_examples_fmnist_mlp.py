"""The example's training script runs, saves a loadable model, and that model compiles bit-exactly."""

import pytest

from example_testing import short_training_run


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    # one epoch of a tiny net already learns
    short_training_run("fmnist_mlp", tmp_path, ["--epochs", "1", "--hidden", "32"], min_accuracy=0.7, images=500)
