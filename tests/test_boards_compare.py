"""``bnn-hw compare``: builds' reports side by side in the terminal and as one HTML page with plots."""

import json
from pathlib import Path

from bnn_hw.boards import get_board
from bnn_hw.boards.compare import comparison_rows, load_reports, render_compare_text
from bnn_hw.boards.report import make_report
from bnn_hw.cli import main
from bnn_hw.compiler import compile_model
from conftest import random_mlp
from html_testing import assert_self_contained

DATA = Path(__file__).parent / "data"


def _builds(tmp_path) -> tuple[Path, Path]:
    """Two build folders: ``placed`` with nextpnr's report of a real ECP5 build, ``estimated`` without."""
    pnr = json.loads((DATA / "nextpnr_report_ecp5.json").read_text())
    placed = make_report(compile_model(random_mlp(784, [64], 10, seed=1)), get_board("ulx3s"), pnr)
    estimated = make_report(compile_model(random_mlp(64, [32], 10, seed=0)), get_board("icebreaker"))
    folders = []
    for name, report in (("placed", placed), ("estimated", estimated)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(report))
        folders.append(tmp_path / name)
    return folders[0], folders[1]


def test_compare_prints_the_builds_side_by_side(tmp_path, capsys):
    placed, estimated = _builds(tmp_path)
    # a folder and a report.json path: both named by their folder
    assert main(["compare", str(placed), str(estimated / "report.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["placed", "estimated"]
    rows = {line[:25].strip(): line[25:].split() for line in lines[1:-1]}
    p, e = (json.loads((folder / "report.json").read_text())["totals"] for folder in (placed, estimated))
    assert rows["board"] == ["ulx3s-85f", "icebreaker"]
    assert rows["LUT4 estimated"] == [str(p["estimated"]["lut4"]["value"]), str(e["estimated"]["lut4"]["value"])]
    assert rows["LUT4 measured"] == [str(p["post_pnr_utilization"]["lut4"]["value"]["used"]), "-"]
    assert rows["EBR measured"] == ["35", "-"]
    assert rows["logic cells measured"] == ["-", "-"]   # nextpnr-ice40 counts logic cells, not LUT4
    assert rows["Fmax / constraint MHz"] == ["51.5", "/", f"{p['fmax_mhz']['value']['constraint']:g}", "-"]
    assert rows["cycles per frame"] == [str(p["cycles_per_frame"]["value"]), str(e["cycles_per_frame"]["value"])]
    assert rows["energy ratio 32-bit"][0] == f"{p['energy_ratio_32bit_to_binary']['value']:.2f}"


def test_compare_html_holds_the_table_and_the_plots(tmp_path, capsys):
    placed, estimated = _builds(tmp_path)
    out = tmp_path / "compare.html"
    assert main(["compare", str(placed), str(estimated), "--html", str(out)]) == 0
    assert capsys.readouterr().out.endswith(f"HTML: {out}\n")
    page_html = out.read_text()
    page = assert_self_contained(page_html)
    reports = load_reports([placed, estimated])
    text = " ".join(page.text)
    for row in comparison_rows(reports):
        assert " ".join(f"{cell}" for cell in row) in " ".join(text.split())   # the table, row by row
    plots = " ".join(page.svg_text)
    for title in ("LUT4", "FF", "EBR", "pipeline clock MHz (measured)", "frames/s", "energy nJ per inference"):
        assert title in plots
    assert "placed" in plots and "estimated" in plots and "51.50" in plots


def test_two_builds_of_one_name_are_told_apart_and_a_missing_report_is_an_error(tmp_path, capsys):
    placed, _ = _builds(tmp_path)
    (tmp_path / "other" / "placed").mkdir(parents=True)
    (tmp_path / "other" / "placed" / "report.json").write_text((placed / "report.json").read_text())
    names = [name for name, _ in load_reports([placed, tmp_path / "other" / "placed"])]
    assert names == [str(placed), str(tmp_path / "other" / "placed")]
    assert "placed" in render_compare_text(load_reports([placed]))
    assert main(["compare", str(tmp_path / "nowhere")]) == 2
    assert "no build report there" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    assert main(["compare", str(tmp_path / "bad.json")]) == 2
    assert "not a bnn-hw build report" in capsys.readouterr().err


def test_markdown_table_has_a_row_a_build_with_its_models_accuracy(tmp_path, capsys):
    """--markdown: the README's results table. The logic example's two-clock build (its real nextpnr
    report) gives the pipeline clock's Fmax, the core's one cycle per frame and the accuracy that its
    metrics.json records; a build without place and route gives dashes for what was not measured."""
    import bnn_hw

    model = Path(__file__).parent.parent / "examples" / "fmnist_logic" / "net.pt"
    pnr = json.loads((DATA / "nextpnr_report_ecp5_two_clocks.json").read_text())
    report = make_report(compile_model(bnn_hw.load(model)), get_board("ulx3s"), pnr, clock_mhz=150, model=model)
    assert report["model"]["test_accuracy"]["value"] == json.loads((model.parent / "metrics.json").read_text())[
        "test_accuracy"]
    (tmp_path / "logic").mkdir()
    (tmp_path / "logic" / "report.json").write_text(json.dumps(report))
    _, estimated = _builds(tmp_path)
    assert main(["compare", "--markdown", str(tmp_path / "logic"), str(estimated)]) == 0
    header, rule, logic, other = capsys.readouterr().out.splitlines()
    assert header.startswith("| network | test accuracy | LUT4 |") and rule.count("|") == header.count("|")
    assert logic.split(" | ")[:7] == ["| logic", "84.67%", "8,857", "14,955", "4", "160.33 MHz (150.01)",
                                      "49 (core: 1)"]
    assert "3,061,224 at 150 MHz (3,272,112)" in logic and logic.endswith(" nJ |")
    assert other.split(" | ")[:6] == ["| estimated", "-", "-", "-", "-", "-"]


def test_a_model_file_is_compared_by_its_estimate(tmp_path, capsys):
    """A model among the builds: its report as `bnn-hw report` estimates it (nothing measured), named
    by its folder and file, with the accuracy beside it."""
    import bnn_hw

    model = tmp_path / "tiny" / "net.pt"
    model.parent.mkdir()
    bnn_hw.save(random_mlp(64, [32], 10, seed=0), model)
    (model.parent / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5}))
    placed, _ = _builds(tmp_path)
    assert main(["compare", "--markdown", str(model), str(placed)]) == 0
    _, _, estimated, built = capsys.readouterr().out.splitlines()
    assert estimated.split(" | ")[:5] == ["| tiny/net.pt", "50.00%", "-", "-", "-"]
    assert built.startswith("| placed | - | ")
    assert main(["compare", str(tmp_path / "missing.pt")]) == 2   # neither a build nor a model: one line
