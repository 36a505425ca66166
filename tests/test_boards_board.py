"""Boards: every board's platform builds without programmers, its demo top elaborates with its LEDs,
its clock and family are right, and ``bnn-hw boards`` lists them all."""

import numpy as np
import pytest

from bnn_hw.boards import BOARDS, get_board
from bnn_hw.boards.board import PROGRAMMING_TOOLS
from bnn_hw.boards.demo_top import DemoTop
from bnn_hw.boards.family import ECP5, ICE40
from bnn_hw.cli import main
from bnn_hw.compiler.io_layout import input_words
from bnn_hw.hdl.pipeline import build_pipeline, payload_width
from bnn_hw.compiler import compile_model
from bnn_hw.errors import BnnHwError
from conftest import random_mlp

NAMES = sorted(BOARDS)


@pytest.mark.parametrize("name", NAMES)
def test_platform_needs_no_programming_tool(name):
    platform = get_board(name).platform()
    assert not set(platform.required_tools) & set(PROGRAMMING_TOOLS)
    assert platform.required_tools == [tool.name for tool in get_board(name).family.tools]
    assert not any(tool in t for t in platform.command_templates for tool in PROGRAMMING_TOOLS)


@pytest.mark.parametrize("name", ["ulx3s", "orangecrab", "icebreaker"])
def test_a_build_runs_the_familys_netlist_pass_between_synthesis_and_place_and_route(name):
    board = get_board(name)
    templates = board.build_platform().command_templates
    tools = [next(t for t in ("yosys", "bnn-hw-python", "nextpnr", "ecppack", "icepack") if t in template)
             for template in templates]
    if board.family.netlist_pass:
        assert tools == ["yosys", "bnn-hw-python", "nextpnr", "ecppack"]
        assert f"-m {board.family.netlist_pass} {{{{name}}}}.json" in templates[1]
    else:
        assert tools == ["yosys", "nextpnr", "icepack"]
    assert board.platform().netlist_pass is None   # a plain instance runs no pass


def test_families_and_chips():
    assert {n: (b.family, b.device) for n, b in BOARDS.items() if n.startswith(("ice", "orange"))} == {
        "icebreaker": (ICE40, "iCE40UP5K"),
        "orangecrab": (ECP5, "LFE5U-25F"), "orangecrab-25f": (ECP5, "LFE5U-25F"),
        "orangecrab-85f": (ECP5, "LFE5U-85F"),
    }
    assert get_board("orangecrab-85f").platform().speed == "8" and get_board("ulx3s").platform().speed == "6"
    up5k = get_board("icebreaker").chip
    assert (up5k.lut4, up5k.ff, up5k.ebr, up5k.dsp, up5k.spram) == (5280, 5280, 30, 8, 4)
    assert up5k.block_ram_kbits == 120
    assert get_board("ulx3s").chip.block_ram_kbits == 208 * 18


def test_clocks():
    icebreaker, orangecrab = get_board("icebreaker"), get_board("orangecrab")
    assert icebreaker.core_clock().hz == 12e6 and icebreaker.core_clock().pll is None
    assert icebreaker.core_clock(12).hz == 12e6
    with pytest.raises(BnnHwError, match="no Lattice iCE40 PLL support.*12 MHz oscillator"):
        icebreaker.core_clock(48)
    core = orangecrab.core_clock()
    assert core.hz == 100e6 and core.pll.f_in_mhz == 48 and "48 MHz oscillator" in core.source
    assert orangecrab.core_clock(48).pll is None


def test_unsupported_clock_is_a_one_line_cli_error(tmp_path, capsys):
    import bnn_hw

    path = tmp_path / "m.pt"
    bnn_hw.save(random_mlp(4, [3], 2), path)
    assert main(["build", "--board", "icebreaker", "--clock", "30", str(path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "12 MHz" in err


@pytest.mark.parametrize("name", ["ulx3s-85f", "icebreaker", "orangecrab-25f"])
def test_demo_top_elaborates_on_every_board_with_its_leds(name, rng):
    board = get_board(name)
    plan = compile_model(random_mlp(10, [12], 6, seed=3))
    pipeline = build_pipeline(plan)
    frames = rng.integers(0, 256, (2, 10), dtype=np.uint8)
    core = board.core_clock()
    top = DemoTop(pipeline, [input_words(plan, f) for f in frames], [0, 1],
                  input_width=payload_width(pipeline, "i"), leds=board.leds, pll=core.pll)
    files = board.platform().prepare(top, name="t").files
    constraints = files["t.pcf"] if board.family is ICE40 else files["t.lpf"]
    assert sum(f"led_{i}__io" in constraints for i in range(board.leds)) == board.leds
    assert f"led_{board.leds}__io" not in constraints
    assert ("EHXPLLL" in files["t.il"]) == (core.pll is not None)


def test_boards_command_lists_every_board(capsys):
    assert main(["boards"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["board", "family", "device", "LUT4", "FF", "EBR", "DSP", "top", "clock"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert set(rows) == {b.name for b in BOARDS.values()}
    assert rows["icebreaker"].split()[:9] == ["icebreaker", "ice40", "iCE40UP5K", "5280", "5280", "30", "x", "4",
                                              "kbit"]
    assert "12 MHz oscillator, core 12 MHz" in rows["icebreaker"] and "PLL" not in rows["icebreaker"]
    assert rows["orangecrab-85f"].split()[:5] == ["orangecrab-85f", "ecp5", "LFE5U-85F", "83640", "83640"]
    assert "48 MHz oscillator, core 100 MHz (PLL)" in rows["orangecrab-85f"]
    assert rows["orangecrab-85f"].split()[10] == "demo" and rows["ulx3s-85f"].split()[10] == "uart"
    assert "25 MHz oscillator" in rows["ulx3s-12f"] and "32 x 18 kbit" in rows["ulx3s-12f"]
    assert lines[-1] == "aliases: orangecrab = orangecrab-25f, ulx3s = ulx3s-85f"
