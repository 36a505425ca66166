"""``report.html``: every figure of ``report.txt`` in one self-contained page with inline SVG plots,
written by ``bnn-hw verilog`` (and ``build``, through ``write_report``) and ``bnn-hw report --html``."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bnn_hw
from bnn_hw.boards import get_board
from bnn_hw.boards.report import make_report, render_text, write_report
from bnn_hw.boards.report_html import render_html
from bnn_hw.cli import main
from bnn_hw.compiler import compile_model
from conftest import random_mlp
from html_testing import Page, assert_self_contained, render_in_chromium

DATA = Path(__file__).parent / "data"


def _ecp5_report() -> dict:
    """The report of a real ECP5 build: nextpnr's and yosys's outputs of ``random_mlp(784, [64], 10, seed=1)``."""
    plan = compile_model(random_mlp(784, [64], 10, seed=1))
    pnr = json.loads((DATA / "nextpnr_report_ecp5.json").read_text())
    stat = json.loads((DATA / "yosys_stat_ecp5.json").read_text())
    return make_report(plan, get_board("ulx3s"), pnr, stat)


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def test_every_figure_of_the_text_report_is_in_the_html_tables():
    report = _ecp5_report()
    text, page_html = render_text(report), render_html(report)
    page = assert_self_contained(page_html)
    tables = " ".join(page.text)
    # every number of report.txt stands in the page's own text, not only in a plot
    assert _numbers(text) <= _numbers(tables), sorted(_numbers(text) - _numbers(tables))
    t = report["totals"]
    lut4 = t["post_pnr_utilization"]["lut4"]["value"]
    assert f"LUT4 {lut4['used']}/{lut4['available']}" in tables
    assert "measured Fmax: 51.5 MHz" in tables and f"cycles per frame: {t['cycles_per_frame']['value']}" in tables
    for row in report["layers"]:
        assert f"<td class=\"text\">{row['name']}</td>" in page_html
        assert row["op"] in tables    # the op in full: report.txt cuts it at 35 characters
    assert "ratio 32-bit / bnn-hw" in tables and "Horowitz" in tables
    assert "DP16KD" in tables      # yosys's cells


def test_the_plots_show_the_pipeline_fill_timing_traffic_and_energy():
    report = _ecp5_report()
    page = Page(render_html(report))
    plots = "\n".join(page.svg_text)
    slowest = max(report["layers"], key=lambda r: r["cycles_per_frame"])
    assert f"{slowest['name']} ({slowest['pe']}x{slowest['simd']})" in plots      # folding in the labels
    assert f"{slowest['cycles_per_frame']}  bottleneck" in plots
    assert "Fmax against the constraint" in plots and "51.5 MHz (constraint" in plots
    assert "device fill" in plots and "LUT4 (measured)" in plots
    assert "memory traffic per stage" in plots and "energy: 32-bit / bnn-hw" in plots
    assert page.tags.count("svg") == 6


def test_an_estimate_only_report_has_no_timing_and_a_missed_clock_is_a_warning():
    plan = compile_model(random_mlp(16, [8], 4, seed=0))
    estimate = render_html(make_report(plan, get_board("ulx3s")))
    page = assert_self_contained(estimate)
    assert "Fmax" not in " ".join(page.svg_text) and "measured" not in " ".join(page.text)
    pnr = json.loads((DATA / "nextpnr_report_ecp5.json").read_text())
    missed = pnr | {"fmax": {"core": {"achieved": 60.0, "constraint": 75.0}, "clk": {"achieved": 30, "constraint": 25}}}
    page_html = render_html(make_report(plan, get_board("ulx3s"), missed))
    assert '<li class="warning">WARNING: timing NOT met' in page_html
    assert "other clock core: 60.0 MHz (constraint 75.0 MHz)" in page_html   # the slowest clock comes first


def test_names_are_escaped():
    report = make_report(compile_model(random_mlp(16, [8], 4, seed=0)), get_board("ulx3s"))
    report["board"] = "<b>&board"
    page_html = render_html(report)
    assert "<b>&board" not in page_html and "&lt;b&gt;&amp;board" in page_html


def test_write_report_writes_the_page_beside_the_text_and_json(tmp_path):
    """``bnn-hw build`` writes its report with ``write_report``: report.html is written with the others."""
    report = _ecp5_report()
    write_report(report, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json", "report.txt"]
    page = assert_self_contained((tmp_path / "report.html").read_text())
    assert _numbers((tmp_path / "report.txt").read_text()) <= _numbers(" ".join(page.text))
    assert "Fmax against the constraint" in " ".join(page.svg_text)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "net.pt"
    bnn_hw.save(random_mlp(64, [32], 10, seed=0), path)
    return path


def test_verilog_writes_report_html_next_to_report_txt(model_file, tmp_path, capsys):
    assert main(["verilog", str(model_file), "-o", str(tmp_path)]) == 0
    assert f"report: {tmp_path / 'report.html'}" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    page_html = (tmp_path / "report.html").read_text()
    assert f"<title>bnn-hw report: {report['board']} ({report['device']}," in page_html
    page = assert_self_contained(page_html)
    assert _numbers((tmp_path / "report.txt").read_text()) <= _numbers(" ".join(page.text))


def test_report_html_option_writes_the_page(model_file, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(model_file), "--html", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.endswith(f"HTML: {out}\n")
    page = assert_self_contained(out.read_text())
    assert _numbers(printed.split("HTML:")[0]) <= _numbers(" ".join(page.text))
    assert main(["report", str(model_file), "--html", str(tmp_path / "missing" / "r.html")]) == 2
    assert "error: cannot write" in capsys.readouterr().err


def test_commands_without_html_do_not_import_matplotlib():
    code = ("import sys; from bnn_hw.cli import main; main(['boards']); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.slow
def test_chromium_draws_every_plot_and_logs_nothing(tmp_path):
    """The page in a real browser (headless Chromium): each plot laid out with a size, and nothing on
    the console (no bad SVG attribute, no failed load)."""
    page_html = render_html(_ecp5_report())
    plots = page_html.count("<svg")
    assert plots >= 6
    drawn, console = render_in_chromium(page_html, tmp_path)
    assert console == []
    assert drawn == plots


@pytest.mark.slow
def test_the_chromium_check_sees_console_errors_and_plots_not_drawn(tmp_path):
    """What the check above relies on: a bad SVG attribute reaches the console, an empty plot is not drawn."""
    bad = ('<!DOCTYPE html><html><body><svg width="0" height="10"></svg>'
           '<svg width="10" height="10"><rect width="-x" height="2"/></svg></body></html>')
    drawn, console = render_in_chromium(bad, tmp_path)
    assert drawn == 1
    assert len(console) == 1 and "<rect> attribute width: Expected length" in console[0], console


def test_the_chromium_check_fails_without_chromium(tmp_path, monkeypatch):
    """Not skipped: a missing browser fails the slow tier, saying how to install it."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"^chromium is not installed: run \./setup\.sh --slow$"):
        render_in_chromium("<!DOCTYPE html>", tmp_path)
