"""The build report: real yosys/nextpnr outputs parsed, every figure with its provenance."""

import json
from pathlib import Path

from bnn_hw.boards import get_board
from bnn_hw.boards.report import make_report, parse_yosys_cells, render_text
from bnn_hw.compiler.plan import compile_model
from conftest import random_mlp

DATA = Path(__file__).parent / "data"


def test_parse_yosys_stat_of_an_ecp5_build():
    cells = parse_yosys_cells((DATA / "yosys_stat_ecp5.txt").read_text())
    assert cells["LUT4"] == 6535 and cells["TRELLIS_FF"] == 861 and cells["DP16KD"] == 35


def test_report_from_a_real_nextpnr_report():
    plan = compile_model(random_mlp(784, [64], 10, seed=1))
    pnr = json.loads((DATA / "nextpnr_report_ecp5.json").read_text())
    report = make_report(plan, get_board("ulx3s"), pnr, (DATA / "yosys_stat_ecp5.txt").read_text())
    totals = report["totals"]
    assert totals["post_pnr_utilization"]["ebr"]["value"] == {"used": 35, "available": 208}
    assert totals["post_pnr_utilization"]["lut4"]["provenance"] == "measured"
    assert totals["fmax_mhz"]["value"]["achieved"] == 51.5
    assert totals["frames_per_second_at_fmax"]["value"] == round(51.50126266479492e6 / 148, 1)
    for figure in totals["estimated"].values():
        assert figure["provenance"] == "estimated"
    assert [row["name"] for row in report["layers"]] == ["thermometer0", "dense1", "dense4", "argmax"]
    text = render_text(report)
    assert "measured Fmax: 51.5 MHz" in text and "EBR 35/208" in text
