"""Progress bars (:mod:`bnn_hw.progress`): drawn on stderr when it is a terminal, nothing written
otherwise, for training epochs and simulation phases (the build's tools: tests/test_boards_build.py)."""

import threading
import time

import torch

from bnn_hw import nn as bnn
from bnn_hw import progress
from bnn_hw.progress import bar


def test_a_bar_writes_nothing_off_a_terminal(capsys):
    assert list(bar(range(3), desc="work")) == [0, 1, 2]
    with bar(desc="step", tick=True, bar_format="{desc} ... {elapsed}") as step:
        assert step.disable and step._ticker is None
    with bar(total=2, desc="phases") as phases:
        phases.update(2)
    assert capsys.readouterr() == ("", "")


def test_a_bar_draws_on_a_terminal_unless_disabled(terminal):
    assert list(bar(range(3), desc="work", unit="batch")) == [0, 1, 2]
    err = terminal.readouterr().err
    assert "work: " in err and "/3" in err and "batch" in err
    assert err.endswith("\r")   # a finished bar is wiped (leave=False)
    assert list(bar(range(3), desc="work", enabled=False)) == [0, 1, 2]
    assert terminal.readouterr() == ("", "")


def test_a_ticking_bar_counts_time_while_nothing_updates_it(terminal, monkeypatch):
    monkeypatch.setattr(progress, "TICK_S", 0.01)
    threads = threading.active_count()
    with bar(desc="  synthesis (yosys)", tick=True, bar_format="{desc} ... {elapsed}") as step:
        time.sleep(0.2)
    assert threading.active_count() == threads and step._ticker is None   # the ticker stops with the bar
    assert terminal.readouterr().err.count("  synthesis (yosys) ... 00:00") >= 3


def test_training_logs_its_lines_and_shows_batches_only_on_a_terminal(stderr):
    from bnn_hw.training import train

    torch.manual_seed(0)
    model = torch.nn.Sequential(bnn.BinaryLinear(8, 4), torch.nn.BatchNorm1d(4), bnn.Sign(), bnn.BinaryLinear(4, 2))
    images = torch.randint(0, 2, (64, 8)).float() * 2 - 1
    lines = []
    train(model, images, (images[:, 0] > 0).long(), epochs=2, batch_size=16, log=lines.append)
    assert [line[:11] for line in lines] == ["epoch   1/2", "epoch   2/2"]
    err = stderr.bars()
    if stderr.param:
        assert "epoch 1/2: " in err and "epoch 2/2: " in err and "/4 " in err and "batch" in err


def test_simulation_shows_its_phases_only_on_a_terminal(stderr, tmp_path, monkeypatch):
    """The frames run inside the simulator's process: the bar is over the build and the simulation."""
    from bnn_hw.sim import runner

    result = tmp_path / "result.json"
    seen = []

    def fake_test(*args):
        seen.append(stderr.bars())   # what the bar showed up to the simulation
        result.write_text("{}")
        return 1, 0

    monkeypatch.setattr(runner, "build_design", lambda *args, **kwargs: "the build")
    monkeypatch.setattr(runner, "_test", fake_test)
    assert runner._run_cocotb("verilator", tmp_path / "x.v", tmp_path, tmp_path / "job", result, False) == "the build"
    err = stderr.bars()
    if stderr.param:
        assert "verilator: build 0/2 phases [00:00]" in seen[0]
        assert seen[0].rindex("verilator: simulate 1/2 phases [00:00]") > seen[0].index("build")
        assert err.strip(" \r") == ""   # wiped when done
