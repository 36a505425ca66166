"""Bad command-line input: one line on stderr, exit status 2, no traceback, before any work; a
simulation that finds the hardware differing from the reference: status 1."""

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


def test_a_report_over_the_chip_says_so_in_one_line(capsys):
    """The estimate is printed as it is (status 0), and one warning says build would refuse it."""
    assert main(["report", "examples/fmnist_bnext/net.pt", "--board", "ulx3s-25f"]) == 0
    captured = capsys.readouterr()
    assert "estimated:" in captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith("warning: the network needs about")
    assert "bnn-hw build will refuse it" in captured.err
    assert main(["report", MLP, "--board", "ulx3s"]) == 0 and capsys.readouterr().err == ""


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


def test_sim_exits_1_when_the_hardware_differs_from_the_reference(tmp_path, capsys, monkeypatch):
    """``bnn-hw sim`` on a tiny network in Icarus: status 0 when the RTL agrees with the reference; the
    same run's result with one class and one score changed is a mismatch: status 1 (not 2: the input
    was fine), said on stdout."""
    from dataclasses import replace

    import bnn_hw
    from bnn_hw.sim import runner
    from conftest import random_mlp

    path = tmp_path / "tiny.pt"
    bnn_hw.save(random_mlp(9, [7], 3, thresholds=(100,), seed=2), path)
    argv = ["sim", str(path), "--images", "4", "--simulator", "icarus", "--build-dir", str(tmp_path / "sim")]
    results, simulate = [], runner.simulate

    def recorded(*args, **kwargs):
        results.append(simulate(*args, **kwargs))
        return results[-1]
    monkeypatch.setattr(runner, "simulate", recorded)
    assert main(argv) == 0
    assert "hardware == NumPy reference: yes on 4 frames" in capsys.readouterr().out

    good = results[0]
    classes, scores = good.classes.copy(), good.scores.copy()
    classes[1] = (classes[1] + 1) % 3          # frame 1: another class
    scores[3, 0] += 1                          # frame 3: the same class, a score off by one
    monkeypatch.setattr(runner, "simulate", lambda *args, **kwargs: replace(good, classes=classes, scores=scores))
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "hardware == NumPy reference: NO (2 mismatches) on 4 frames" in captured.out
    assert captured.err == ""
