"""Board builds: the fit check fails early, the LED demo works in simulation, and full ULX3S and
iCEBreaker builds."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.sim import Simulator

import bnn_hw
from bnn_hw.boards.demo_top import DemoTop
from bnn_hw.cli import main
from bnn_hw.compiler.io_layout import input_words
from bnn_hw.hdl.pipeline import build_pipeline, payload_width
from bnn_hw.compiler import compile_model
from bnn_hw.errors import BnnHwError, ToolchainError
from conftest import random_mlp, stand_in_tools

SHIPPED = Path(__file__).parent.parent / "examples" / "fmnist_mlp" / "net.pt"


def test_too_big_for_the_device_fails_before_synthesis(tmp_path, capsys):
    path = tmp_path / "big.pt"
    bnn_hw.save(random_mlp(784, [1024, 1024], 10, seed=0), path)
    out = tmp_path / "out"
    assert main(["build", "--board", "ulx3s-12f", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "EBR" in err and "LFE5U-12F" in err and "layer dense" in err
    assert not (out / "bnn_hw.il").exists()  # nothing was handed to the toolchain


def test_too_big_for_the_up5k_fails_before_synthesis_in_its_own_blocks(tmp_path, capsys):
    from bnn_hw.boards import get_board
    from bnn_hw.compiler.folding import parse_folding
    from bnn_hw.compiler import check_fit

    path, folding = tmp_path / "wide.pt", "dense1=2x64"   # 150 kbit of weights, few LUTs
    model = random_mlp(64, [768], 10, seed=0)
    bnn_hw.save(model, path)
    out = tmp_path / "out"
    assert main(["build", "--board", "icebreaker", "--folding", folding, str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "EBR (4-kbit SB_RAM40_4K) but iCE40UP5K beside the UART server" in err and "has 26" in err
    assert "layer dense1" in err and "--fit" in err
    assert not (out / "bnn_hw.il").exists()  # nothing was handed to the toolchain
    # In 18-kbit blocks the same plan fits the ULX3S 12F's 32 EBR: the check counts each chip's own.
    small = get_board("ulx3s-12f")
    check_fit(compile_model(model, parse_folding(folding), block_ram=small.chip.block_ram), small.chip.capacity(),
              small.device)


def test_input_words_too_wide_for_the_uart_fail_before_any_verilog(tmp_path, capsys):
    path, out = tmp_path / "wide.pt", tmp_path / "out"
    bnn_hw.save(random_mlp(300, [8], 2, seed=0, thresholds=(128,)), path)
    folding = "thermometer0=1x300,dense1=unrolled"   # 300 pixels a word: 300 bytes
    assert main(["build", "--board", "ulx3s", "--folding", folding, str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "at most 255 bytes" in err
    assert not (out / "bnn_pipeline.v").exists()


@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_build_progress_names_the_familys_tools(tmp_path, family, stderr):
    """Each tool's line through ``progress``, the same on a terminal or not; on a terminal the running
    tool's elapsed time ticks below its line on stderr, off one nothing more is written."""
    from bnn_hw.boards.build import _run_script
    from bnn_hw.boards.family import ECP5, ICE40

    family = {"ecp5": ECP5, "ice40": ICE40}[family]
    env = stand_in_tools(tmp_path, family)
    commands = [f'"${tool.env_var}" --option' for tool in family.tools]
    if family.netlist_pass:   # between synthesis and place and route, as the platform orders it
        commands.insert(1, f"true -m {family.netlist_pass} bnn_hw.json")
    (tmp_path / "build_bnn_hw.sh").write_text("set -e\n" + "\n".join(commands) + "\nexit 7\n")
    messages = []
    with pytest.raises(ToolchainError, match=r"the FPGA build failed \(exit 7\)"):
        _run_script(tmp_path, env, family, messages.append)
    labels = [m.split(" ... ")[0].strip() for m in messages]
    assert labels == {
        "ecp5": ["synthesis (yosys)", "block RAM and DSP registers (bnn_hw.boards.ecp5_netlist_pass)",
                 "place and route (nextpnr-ecp5)", "bitstream (ecppack)"],
        "ice40": ["synthesis (yosys)", "place and route (nextpnr-ice40)", "bitstream (icepack)"],
    }[family.name]
    assert all(re.fullmatch(r"  .+ \.\.\. \(t=\d+ s\)", m) for m in messages)
    err = stderr.bars()
    if stderr.param:
        assert all(f"\r  {label} ... 00:0" in err for label in labels) and err.endswith("\r")


class _Blink(Elaboratable):
    """A 24-bit counter on the first LED: a design yosys synthesises in a second or two."""

    def elaborate(self, platform):
        m = Module()
        count = Signal(24)
        m.d.sync += count.eq(count + 1)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += led.o.eq(count[-1])
        return m


@pytest.mark.parametrize("board", ["ulx3s", "icebreaker"])
def test_the_builds_yosys_writes_the_cell_counts_the_report_reads(tmp_path, board):
    """The real yosys runs a build's script (place and route and the bitstream stand-ins): its
    ``stat -json`` lands in the build folder, and the report's cells from it are the counts of the
    last ``stat`` in yosys's log (synth's own), without yosys's ``$scopeinfo``."""
    from bnn_hw.boards import get_board
    from bnn_hw.boards.build import YOSYS_STAT, _run_script, build_plan
    from bnn_hw.boards.report import yosys_cells
    from bnn_hw.boards.toolchain import toolchain_env

    board = get_board(board)
    build_plan(board, _Blink()).extract(str(tmp_path))
    env = toolchain_env(board.family) | {tool.env_var: "true" for tool in board.family.tools[1:]}
    _run_script(tmp_path, env, board.family, lambda message: None)
    stat = json.loads((tmp_path / YOSYS_STAT).read_text())
    cells = yosys_cells(stat)
    assert "$scopeinfo" in stat["design"]["num_cells_by_type"] and "$scopeinfo" not in cells
    assert sum(count for name, count in cells.items() if "FF" in name) >= 24   # TRELLIS_FF, SB_DFF...
    last_stat = (tmp_path / "bnn_hw.rpt").read_text().rsplit("Printing statistics", 1)[1]
    listed = re.findall(r"^\s+(\d+)\s+([A-Z][A-Z0-9_]*)$", last_stat, flags=re.M)
    assert {name: int(count) for count, name in listed} == cells


def test_uart_top_on_a_board_without_a_serial_port_fails_early(tmp_path, capsys):
    from bnn_hw.boards import get_board

    assert get_board("ulx3s").default_interface == "uart"
    assert get_board("orangecrab").default_interface == "demo"   # its USB port is the FPGA's own
    path, out = tmp_path / "m.pt", tmp_path / "out"
    bnn_hw.save(random_mlp(4, [3], 2), path)
    assert main(["build", "--board", "orangecrab", "--interface", "uart", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--interface demo" in err
    assert not (out / "bnn_hw.il").exists()


def test_unknown_board(tmp_path, capsys):
    path = tmp_path / "m.pt"
    bnn_hw.save(random_mlp(4, [3], 2), path)
    assert main(["build", "--board", "nexys", str(path)]) == 2
    assert "ulx3s" in capsys.readouterr().err


def test_led_demo_shows_the_predicted_class(rng):
    plan = compile_model(random_mlp(10, [12], 6, seed=3))
    frames = rng.integers(0, 256, (3, 10), dtype=np.uint8)
    classes, _ = plan.predict(frames)
    labels = [int(classes[0]), (int(classes[1]) + 1) % 6, int(classes[2])]  # image 1 is "wrong"
    pipeline = build_pipeline(plan)
    hold = 400
    top = DemoTop(pipeline, [input_words(plan, f) for f in frames], labels,
                  input_width=payload_width(pipeline, "i"), hold_cycles=hold)
    seen = []

    async def bench(ctx):
        for _ in range(3):
            await ctx.tick().repeat(hold)
            seen.append(ctx.get(top.led))

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for image, led in enumerate(seen):
        assert led & 0xF == classes[image]
        assert (led >> 4) & 1 == (labels[image] == classes[image])
        assert led >> 5 == image


@pytest.mark.slow
def test_full_ulx3s_build_of_the_shipped_model(tmp_path):
    out = tmp_path / "build"
    assert main(["build", "--board", "ulx3s", str(SHIPPED), "-o", str(out)]) == 0
    assert (out / "bnn_hw.bit").stat().st_size > 100_000
    assert (out / "bnn_pipeline.v").exists()
    report = json.loads((out / "report.json").read_text())
    totals = report["totals"]
    assert totals["fmax_mhz"]["provenance"] == "measured"
    # The default core clock is 100 MHz from the PLL, and the shipped model meets it.
    assert totals["clock_mhz"]["value"] == 100.0
    assert totals["fmax_mhz"]["value"]["constraint"] == 100
    assert totals["timing_met"]["value"] is True, totals["fmax_mhz"]
    used = totals["post_pnr_utilization"]
    assert 0 < used["lut4"]["value"]["used"] < used["lut4"]["value"]["available"]
    assert totals["post_synthesis_cells"]["value"]["LUT4"] > 0   # from yosys's stat -json
    assert (out / "report.txt").read_text().startswith("bnn-hw report: ulx3s-85f")
    assert report["interface"]["kind"] == "uart"   # the default top where the board has a serial port


@pytest.mark.slow
def test_full_icebreaker_build_of_a_small_network(tmp_path):
    path, out = tmp_path / "digits.pt", tmp_path / "build"
    bnn_hw.save(random_mlp(64, [32], 10, seed=0), path)   # the 8x8 digits' 64 pixels
    assert main(["build", "--board", "icebreaker", "--fit", str(path), "-o", str(out)]) == 0
    assert (out / "bnn_hw.bin").stat().st_size > 100_000
    report = json.loads((out / "report.json").read_text())
    totals = report["totals"]
    used = totals["post_pnr_utilization"]
    for resource in ("logic_cells", "ebr"):
        assert used[resource]["provenance"] == "measured"
        assert 0 < used[resource]["value"]["used"] <= used[resource]["value"]["available"]
    assert used["logic_cells"]["value"]["available"] == 5280 and used["ebr"]["value"]["available"] == 30
    assert totals["post_synthesis_cells"]["value"]["SB_LUT4"] > 0   # from yosys's stat -json
    assert totals["fmax_mhz"]["provenance"] == "measured" and totals["fmax_mhz"]["value"]["constraint"] == 12
    # timing met at the board's 12 MHz: in the report, and for every clock nextpnr timed (the report
    # names only the one with the lowest Fmax)
    assert totals["timing_met"]["value"] is True, totals["fmax_mhz"]
    assert totals["fmax_mhz"]["value"]["achieved"] >= totals["fmax_mhz"]["value"]["constraint"]
    clocks = json.loads((out / "bnn_hw_pnr.json").read_text())["fmax"]
    assert clocks and all(f["achieved"] >= f["constraint"] for f in clocks.values()), clocks
    assert (out / "report.txt").read_text().startswith("bnn-hw report: icebreaker (iCE40UP5K")


def test_pll_clocked_board_top_elaborates_with_its_constraint(rng):
    from bnn_hw.boards import get_board
    from bnn_hw.boards.ecp5_pll import pll_config

    plan = compile_model(random_mlp(10, [12], 6, seed=3))
    pipeline = build_pipeline(plan)
    frames = rng.integers(0, 256, (2, 10), dtype=np.uint8)
    top = DemoTop(pipeline, [input_words(plan, f) for f in frames], [0, 1],
                  input_width=payload_width(pipeline, "i"), pll=pll_config(25, 100))
    files = get_board("ulx3s").platform().prepare(top, name="t").files
    assert "EHXPLLL" in files["t.il"] and "FREQUENCY_PIN_CLKOP" in files["t.il"]
    # the domain's reset reaches its flip-flops over a global line, as the clock does
    assert "cell \\DCCA" in files["t.il"]
    # nextpnr derives the PLL output's constraint from the oscillator's
    assert 'FREQUENCY PORT "clk25_0__io" 25000000' in files["t.lpf"]


def test_uart_top_above_the_board_clock_gives_the_pipeline_its_own_pll_output():
    """--clock 150 on the ULX3S: the pipeline on the PLL's CLKOP at 150 MHz in domain ``core``, the
    UART server on CLKOS at 50 MHz (its baud divisor from that clock), each reset over a global line."""
    from bnn_hw.boards import get_board
    from bnn_hw.boards.demo_top import CORE_DOMAIN
    from bnn_hw.boards.server_top import ServerTop
    from bnn_hw.compiler.io_layout import plan_info
    from bnn_hw.hdl.uart_server import InferenceServer, uart_divisor

    board = get_board("ulx3s")
    clock = board.core_clock(150, separate_server=True)
    plan = compile_model(random_mlp(10, [12], 6, seed=3))
    server = InferenceServer.for_pipeline(build_pipeline(plan), plan_info(plan),
                                          divisor=uart_divisor(clock.io_hz, 1_000_000), pipeline_domain=CORE_DOMAIN)
    files = board.platform().prepare(ServerTop(server, pll=clock.pll), name="t").files
    il = files["t.il"]
    assert "FREQUENCY_PIN_CLKOP" in il and '"150"' in il and "FREQUENCY_PIN_CLKOS" in il and '"50"' in il
    assert il.count("cell \\DCCA") == 2 and "CLKOS_DIV" in il
    assert uart_divisor(clock.io_hz, 1_000_000) == 50   # 1 Mbaud from the server's 50 MHz


@pytest.mark.slow
def test_full_ulx3s_build_of_the_logic_network_at_150_mhz(tmp_path):
    """The logic-gate example's target: the pipeline meets 150 MHz, the UART server its 50 MHz."""
    out = tmp_path / "build"
    model = Path(__file__).parent.parent / "examples" / "fmnist_logic" / "net.pt"
    assert main(["build", "--board", "ulx3s", "--clock", "150", str(model), "-o", str(out)]) == 0
    totals = json.loads((out / "report.json").read_text())["totals"]
    # nextpnr constrains the PLL output at 150.01 MHz (it derives it from the 25 MHz input)
    assert totals["fmax_mhz"]["value"]["constraint"] == pytest.approx(150, abs=0.05), totals["fmax_mhz"]
    assert totals["timing_met"]["value"] is True, totals["fmax_mhz"]
    assert [c["constraint"] for c in totals["fmax_other_clocks_mhz"]["value"].values()] == [50]


def test_fit_leaves_room_for_the_uart_server(tmp_path):
    from argparse import Namespace

    from bnn_hw.hdl.uart_server import server_reserve
    from bnn_hw.cli import _load_plan
    from bnn_hw.compiler import FIT_HEADROOM

    path = tmp_path / "m.pt"
    bnn_hw.save(random_mlp(64, [32], 10, seed=0), path)
    args = Namespace(model=str(path), folding=None, board="icebreaker", fit=True, target_fps=None, clock=None)
    with_server, board = _load_plan(args, "uart")
    alone, _ = _load_plan(args, "demo")
    reserve = server_reserve(with_server.input_type, board.chip.block_ram)
    assert reserve["lut4"] > 0 and reserve["ebr"] >= 3   # no LUT RAM for the FIFOs on the iCE40
    for resource, available in board.chip.capacity().items():
        assert getattr(with_server.total, resource) <= (available - reserve.get(resource, 0)) * FIT_HEADROOM
    assert with_server.bottleneck.cost.cycles >= alone.bottleneck.cost.cycles


def test_the_placement_seed_and_router_reach_nextpnr(tmp_path, monkeypatch):
    """Stand-in tools: yosys writes an empty netlist, nextpnr records its arguments and fails."""
    from bnn_hw.boards.build import build
    from bnn_hw.boards import get_board
    from bnn_hw.compiler import compile_model
    from conftest import random_mlp

    args = tmp_path / "nextpnr_args"
    empty = '{"modules": {"bnn_hw": {"attributes": {"top": "1"}, "cells": {}, "ports": {}}}}'
    yosys = f"case \"$*\" in *bnn_hw.ys*) echo '{empty}' > bnn_hw.json;; esac"   # not when amaranth asks it
    for var, script in (("YOSYS", yosys), ("NEXTPNR_ECP5", f'echo "$@" > {args}; exit 1'),
                        ("ECPPACK", "exit 0")):
        fake = tmp_path / var.lower()
        fake.write_text(f"#!/bin/sh\n{script}\n")
        fake.chmod(0o755)
        monkeypatch.setenv(var, str(fake))
    plan = compile_model(random_mlp(16, [8], 4, seed=0))
    with pytest.raises(ToolchainError):
        build(plan, get_board("ulx3s"), tmp_path / "out", baud=1_000_000, seed=7, router="router2",
              progress=lambda m: None)
    assert "--seed 7" in args.read_text() and "--router router2" in args.read_text()
    with pytest.raises(BnnHwError, match="unknown nextpnr router 'router3'"):
        build(plan, get_board("ulx3s"), tmp_path / "out2", baud=1_000_000, router="router3", progress=lambda m: None)
    assert not (tmp_path / "out2").exists()   # refused before anything is written
