"""Bad command-line input: one line on stderr, exit status 2, no traceback, before any work."""

import numpy as np
import pytest

from bnn_hw.cli import main

MLP = "examples/fmnist_mlp/net.pt"


@pytest.mark.parametrize("argv, says", [
    (["report", MLP, "--folding", "dense1=0x4"], "positive PE and SIMD"),
    (["report", MLP, "--folding", "dense1=4"], "NAME=PExSIMD"),
    (["report", MLP, "--target-fps", "0"], "--target-fps: must be a positive number"),
    (["report", MLP, "--target-fps", "-5"], "--target-fps: must be a positive number"),
    (["report", MLP, "--target-fps", "nan"], "--target-fps: must be a positive number"),
    (["build", MLP, "--clock", "0"], "--clock: must be a positive number"),
    (["build", MLP, "--clock", "-25"], "--clock: must be a positive number"),
    (["build", MLP, "--baud", "0"], "--baud: must be a positive integer"),
    (["build", MLP, "--demo-images", "-1"], "--demo-images: must be a positive integer"),
    (["sim", MLP, "--images", "0"], "--images: must be a positive integer"),
    (["sim", MLP, "--stall", "1"], "--stall: must be a probability"),
    (["sim", MLP, "--stall", "-0.1"], "--stall: must be a probability"),
    (["run", MLP, "--port", "/dev/null", "--images", "-3"], "--images: must be a positive integer"),
    (["run", MLP, "--port", "/dev/null", "--baud", "-1"], "--baud: must be a positive integer"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_get_one_line_and_status_2(argv, says, capsys):
    try:
        status = main(argv)
    except SystemExit as e:   # argparse's checks
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err, err


def test_bad_folding_value_from_the_compiler_is_one_line(capsys):
    assert main(["report", MLP, "--target-fps", "1e12"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frames/s" in err


@pytest.mark.parametrize("frames, says", [
    (np.zeros((3, 700), np.uint8), "shape"),
    (np.zeros(784, np.uint8), "shape"),
    (np.zeros((3, 784), np.float32), "integers"),
    (np.full((3, 784), 256, np.int32), "0..255"),
    (np.full((3, 28, 28), -1, np.int32), "0..255"),
    (np.zeros((3, 28, 27), np.uint8), "784 values"),
])
def test_run_checks_frames_before_opening_the_port(frames, says, tmp_path, capsys):
    path = tmp_path / "frames.npy"
    np.save(path, frames)
    assert main(["run", MLP, "--port", str(tmp_path / "no-such-port"), "--npy", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


def test_run_reads_a_file_that_is_not_npy_in_one_line(tmp_path, capsys):
    path = tmp_path / "frames.npy"
    path.write_bytes(b"not numpy")
    assert main(["run", MLP, "--port", "/dev/null", "--npy", str(path)]) == 2
    assert "not a readable .npy" in capsys.readouterr().err
