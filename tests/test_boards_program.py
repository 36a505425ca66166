"""``bnn-hw program``: the exact openFPGALoader command per board, and one-line errors."""

import json
import os
import stat

import pytest

from bnn_hw.cli import main

# The fake openFPGALoader writes its arguments, one a line, to $FAKE_LOG and exits with $FAKE_EXIT.
FAKE = '#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_LOG"\nexit "${FAKE_EXIT:-0}"\n'


def _install_fake(folder, name="openFPGALoader"):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(FAKE)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_loader(tmp_path, monkeypatch):
    """openFPGALoader on PATH (and nothing else there); returns a function giving its arguments."""
    log = tmp_path / "args.txt"
    _install_fake(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    return lambda: log.read_text().splitlines()


def _build_dir(tmp_path, board, bitstream):
    out = tmp_path / "build"
    out.mkdir()
    (out / bitstream).write_bytes(b"\xff\x00bitstream")
    (out / "report.json").write_text(json.dumps({"board": board}))
    return out


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("board, built_for, bitstream, args", [
    ("ulx3s", "ulx3s-85f", "bnn_hw.bit", ["--board", "ulx3s"]),
    ("ulx3s-12f", "ulx3s-12f", "bnn_hw.bit", ["--board", "ulx3s"]),
    ("icebreaker", "icebreaker", "bnn_hw.bin", ["--board", "ice40_generic"]),
    ("orangecrab", "orangecrab-25f", "bnn_hw.bit", ["--board", "orangeCrab"]),
    ("orangecrab-85f", "orangecrab-85f", "bnn_hw.bit", ["--board", "orangeCrab"]),
])
def test_program_runs_openfpgaloader_with_the_boards_arguments(tmp_path, fake_loader, board, built_for,
                                                               bitstream, args):
    out = _build_dir(tmp_path, built_for, bitstream)
    assert main(["program", "--board", board, str(out)]) == 0
    assert fake_loader() == [*args, str(out / bitstream)]


def test_the_board_defaults_to_the_one_the_folder_was_built_for(tmp_path, fake_loader, capsys):
    out = _build_dir(tmp_path, "icebreaker", "bnn_hw.bin")
    assert main(["program", str(out)]) == 0
    assert fake_loader() == ["--board", "ice40_generic", str(out / "bnn_hw.bin")]
    assert capsys.readouterr().out.strip().endswith(f"openFPGALoader --board ice40_generic {out / 'bnn_hw.bin'}")


def test_openfpgaloader_env_var_names_the_tool(tmp_path, fake_loader, monkeypatch):
    own = _install_fake(tmp_path / "elsewhere", "my-loader")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("OPENFPGALOADER", str(own))
    out = _build_dir(tmp_path, "ulx3s-85f", "bnn_hw.bit")
    assert main(["program", "--board", "ulx3s", str(out)]) == 0
    assert fake_loader() == ["--board", "ulx3s", str(out / "bnn_hw.bit")]


def test_missing_openfpgaloader_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    out = _build_dir(tmp_path, "ulx3s-85f", "bnn_hw.bit")
    assert main(["program", "--board", "ulx3s", str(out)]) == 2
    err = _one_line_error(capsys)
    assert "openFPGALoader not found" in err and "apt install openfpgaloader" in err
    assert "https://github.com/trabucayre/openFPGALoader" in err


def test_openfpgaloader_env_var_that_is_not_a_tool(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENFPGALOADER", str(tmp_path / "nope"))
    out = _build_dir(tmp_path, "ulx3s-85f", "bnn_hw.bit")
    assert main(["program", "--board", "ulx3s", str(out)]) == 2
    assert "OPENFPGALOADER=" in _one_line_error(capsys)


def test_a_folder_without_a_bitstream(tmp_path, fake_loader, capsys):
    out = tmp_path / "empty_build"
    out.mkdir()
    assert main(["program", "--board", "icebreaker", str(out)]) == 2
    err = _one_line_error(capsys)
    assert "no bitstream bnn_hw.bin" in err and "bnn-hw build --board icebreaker" in err
    assert not os.path.exists(tmp_path / "args.txt")   # openFPGALoader never ran


def test_a_folder_built_for_another_board(tmp_path, fake_loader, capsys):
    out = _build_dir(tmp_path, "ulx3s-85f", "bnn_hw.bit")
    assert main(["program", "--board", "icebreaker", str(out)]) == 2
    assert "built for ulx3s-85f, not icebreaker" in _one_line_error(capsys)


def test_a_folder_that_names_no_board_needs_board(tmp_path, fake_loader, capsys):
    out = tmp_path / "somewhere"
    out.mkdir()
    assert main(["program", str(out)]) == 2
    assert "--board" in _one_line_error(capsys)


def test_openfpgaloader_failing_is_one_line(tmp_path, fake_loader, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_EXIT", "3")
    out = _build_dir(tmp_path, "orangecrab-25f", "bnn_hw.bit")
    assert main(["program", "--board", "orangecrab", str(out)]) == 2
    assert "openFPGALoader failed (exit 3) programming the OrangeCrab r0.2 25F" in _one_line_error(capsys)
