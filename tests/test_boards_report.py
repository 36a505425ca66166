"""The build report: real yosys/nextpnr outputs parsed, every figure with its provenance."""

import json
from pathlib import Path

import pytest

from bnn_hw.boards import get_board
from bnn_hw.boards.report import make_report, render_text, yosys_cells
from bnn_hw.compiler import compile_model
from bnn_hw.cli import main
from conftest import random_bireal, random_boolnet, random_mlp

DATA = Path(__file__).parent / "data"


def _yosys_stat(family: str) -> dict:
    """yosys's ``stat -json`` as a build writes it (``bnn_hw_stat.json``): the ECP5 one of
    ``random_mlp(784, [64], 10, seed=1)`` behind the UART server on the ULX3S, the iCE40 one of
    ``random_mlp(64, [32], 10, seed=0)`` fitted beside it on the iCEBreaker."""
    return json.loads((DATA / f"yosys_stat_{family}.json").read_text())


def test_cell_counts_of_an_ecp5_build_from_yosys_stat_json():
    cells = yosys_cells(_yosys_stat("ecp5"))
    assert cells["LUT4"] == 3916 and cells["TRELLIS_FF"] == 4189 and cells["DP16KD"] == 33
    assert cells["EHXPLLL"] == 1 and "$scopeinfo" not in cells   # primitives only, yosys's own cells left out


def test_report_from_a_real_nextpnr_report():
    plan = compile_model(random_mlp(784, [64], 10, seed=1))
    pnr = json.loads((DATA / "nextpnr_report_ecp5.json").read_text())
    report = make_report(plan, get_board("ulx3s"), pnr, _yosys_stat("ecp5"))
    totals = report["totals"]
    assert totals["post_synthesis_cells"]["value"]["DP16KD"] == 33
    assert totals["post_synthesis_cells"]["provenance"] == "measured"
    assert totals["post_pnr_utilization"]["ebr"]["value"] == {"used": 35, "available": 208}
    assert totals["post_pnr_utilization"]["lut4"]["provenance"] == "measured"
    assert totals["fmax_mhz"]["value"]["achieved"] == 51.5
    assert totals["frames_per_second_at_fmax"]["value"] == round(51.50126266479492e6 / 148, 1)
    for figure in totals["estimated"].values():
        assert figure["provenance"] == "estimated"
    assert [row["name"] for row in report["layers"]] == ["thermometer0", "dense1", "dense4", "argmax"]
    text = render_text(report)
    assert "measured Fmax: 51.5 MHz" in text and "EBR 35/208" in text
    assert "block RAM output registers" not in text
    report["block_ram_output_registers"] = {"ports": 35, "registered": 34, "flip_flops": 1200, "skipped": {}}
    assert "block RAM output registers: 34 of 35 read ports (1200 flip-flops" in render_text(report)


def test_report_from_a_real_nextpnr_ice40_report():
    board = get_board("icebreaker")
    plan = compile_model(random_mlp(64, [32], 10, seed=0))   # costed for ECP5 blocks: the report re-costs it
    pnr = json.loads((DATA / "nextpnr_report_ice40.json").read_text())
    report = make_report(plan, board, pnr, _yosys_stat("ice40"))
    assert (report["family"], report["block_ram"]) == ("ice40", "4-kbit SB_RAM40_4K")
    totals = report["totals"]
    used = totals["post_pnr_utilization"]
    assert used["logic_cells"]["value"] == {"used": 3111, "available": 5280}
    assert used["ebr"]["value"] == {"used": 6, "available": 30}
    assert used["spram"]["value"]["available"] == 4 and used["dsp"]["value"]["available"] == 8
    assert used["ebr"]["source"] == "nextpnr --report (ICESTORM_RAM)"
    assert "lut4" not in used   # nextpnr-ice40 counts logic cells (LUT4 + FF), not LUTs
    assert totals["estimated"]["ebr"]["value"] == plan.costed_for(board.chip.block_ram).total.ebr
    assert totals["capacity"] == {"lut4": 5280, "ff": 5280, "ebr": 30, "dsp": 8}
    assert totals["fmax_mhz"]["value"] == {"achieved": 20.4, "constraint": 12.0, "clock": "cd_sync.clk"}
    assert totals["timing_met"]["value"] is True
    assert totals["clock_mhz"]["value"] == 12.0 and "no PLL" in totals["clock_mhz"]["source"]
    cells = totals["post_synthesis_cells"]["value"]
    assert cells["SB_LUT4"] == 2184 and cells["SB_RAM40_4K"] == 7 and "$scopeinfo" not in cells
    text = render_text(report)
    assert text.startswith("bnn-hw report: icebreaker (iCE40UP5K, EBR = 4-kbit SB_RAM40_4K)")
    assert "LOGIC CELLS 3111/5280, EBR 6/30" in text and "measured Fmax: 20.4 MHz (constraint 12.0 MHz" in text


def test_report_command_prints_memory_and_energy_tables_without_synthesis(tmp_path, capsys):
    import bnn_hw
    path = tmp_path / "net.pt"
    model = random_boolnet(image=(1, 8, 8), channels=8)
    bnn_hw.save(model, path)
    depth = next(s.bypass.depth for s in compile_model(model).stages if s.name == "xnor5")
    assert main(["report", str(path)]) == 0
    text = capsys.readouterr().out
    assert "memory and operations per inference" in text and "sc buffered" in text
    assert "45nm ASIC-equivalent estimate, not FPGA power" in text and "ISSCC 2014" in text
    assert "ratio 32-bit / bnn-hw" in text
    memory = text.split("memory and operations per inference")[1]
    row = next(line for line in memory.splitlines() if line.startswith("xnor5 "))
    assert row.split()[2] == str(8 * depth)     # the shortcut FIFO's bits


def test_energy_figures_carry_their_provenance():
    report = make_report(compile_model(random_mlp(64, [32], 10)), get_board("ulx3s"))
    totals = report["totals"]
    for key in ("energy_per_inference_pj", "energy_32bit_baseline_pj", "energy_ratio_32bit_to_binary"):
        assert totals[key]["provenance"] == "45nm ASIC-equivalent estimate"
    assert "Horowitz" in totals["energy_per_inference_pj"]["source"]
    assert totals["energy_ratio_32bit_to_binary"]["value"] > 1


def test_timing_is_met_only_when_every_clock_meets_its_constraint():
    """Two clocks: the one nextpnr times slowest meets its constraint, a faster one misses its own."""
    plan = compile_model(random_mlp(16, [8], 4, seed=0))
    pnr = json.loads((DATA / "nextpnr_report_ecp5.json").read_text())
    met = pnr | {"fmax": {"osc": {"achieved": 40.0, "constraint": 25.0}, "core": {"achieved": 60.0, "constraint": 50.0}}}
    missed = pnr | {"fmax": {"osc": {"achieved": 40.0, "constraint": 25.0}, "core": {"achieved": 60.0, "constraint": 75.0}}}
    for data, timing_met in ((met, True), (missed, False)):
        totals = make_report(plan, get_board("ulx3s"), data)["totals"]
        assert totals["timing_met"]["value"] is timing_met
        assert totals["fmax_mhz"]["value"]["clock"] == "osc"   # the lowest Fmax, as before
    assert "WARNING: timing NOT met" in render_text(make_report(plan, get_board("ulx3s"), missed))


def test_report_of_a_two_clock_build_names_the_pipeline_clock_and_each_critical_path():
    """nextpnr's report of the logic-gate example built with --clock 150 (pipeline on its own PLL
    output, the UART server at 100 MHz): the pipeline's clock is the Fmax even though the server's
    is slower, the server's is listed, and each clock's critical path is summarised."""
    import bnn_hw
    from bnn_hw.boards.report_html import render_html

    plan = compile_model(bnn_hw.load(Path(__file__).parent.parent / "examples" / "fmnist_logic" / "net.pt"))
    pnr = json.loads((DATA / "nextpnr_report_ecp5_two_clocks.json").read_text())
    report = make_report(plan, get_board("ulx3s"), pnr, None, clock_mhz=150)
    totals = report["totals"]
    assert totals["fmax_mhz"]["value"] == {"achieved": 160.33, "constraint": 150.01, "clock": "$glbnet$pll.core_clk"}
    assert totals["fmax_other_clocks_mhz"]["value"] == {"$glbnet$pll.clk": {"achieved": 114.89, "constraint": 100}}
    assert totals["timing_met"]["value"] is True
    paths = {p["clock"]: p for p in totals["critical_paths"]["value"]}   # within a clock only
    assert set(paths) == {"$glbnet$pll.core_clk", "$glbnet$pll.clk"}
    core = paths["$glbnet$pll.core_clk"]
    assert core["delay_ns"] == 6.24 and core["logic_ns"] + core["routing_ns"] == pytest.approx(6.24, abs=0.011)
    assert 1000 / core["delay_ns"] == pytest.approx(160.33, rel=0.01)   # the path is what sets the Fmax
    text = render_text(report)
    assert "critical path of $glbnet$pll.core_clk: 6.24 ns (1.47 logic, 4.77 routing), server.result_fifo" in text
    assert "critical path of $glbnet$pll.core_clk: 6.24 ns" in render_html(report)


def test_the_layer_table_says_which_stages_pass_on_bits_and_which_fixed_point():
    plan = compile_model(random_bireal(frac_bits=3, bits=6))
    text = render_text(make_report(plan, get_board("ulx3s")))
    rows = {line.split()[0]: line.split()[-1] for line in text.split("\n\n")[1].splitlines()[1:]}
    kinds = {s.name: str(s.out_type).split("[")[0] for s in plan.stages}
    assert rows == kinds
    assert "bits" in rows.values() and "int6.3" in rows.values()
    assert "intW.F = W-bit fixed point with F fraction bits" in text
