"""``bnn-hw compare``: the reports of several builds side by side, as a table in the terminal and as
one self-contained HTML page with the table and bar plots (LUT4, FF, EBR, Fmax, frames/s, energy).

A build is named by its folder (``build/mlp/report.json`` is ``mlp``). A build's test accuracy is the
one its model's training script recorded (``metrics.json`` beside the model, copied into the report
at build time). ``--markdown`` gives the README's results table: a row a build.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..errors import BnnHwError
from .report import folding_label
from .report_html import (ESTIMATED, MEASURED, MET, MISSED, clocks, figure_svg, html_page, html_table, new_figure,
                          plain, plotting)

__all__ = ["load_reports", "comparison_rows", "render_compare_text", "render_compare_html", "render_compare_markdown"]


def load_reports(paths: list[str | Path]) -> list[tuple[str, dict]]:
    """``(name, report)`` of each build folder (its ``report.json``) or ``report.json`` file in
    ``paths``, named by the folder; two builds of one name are told apart by their paths."""
    found = []
    for given in map(Path, paths):
        path = given / "report.json" if given.is_dir() else given
        try:
            report = json.loads(path.read_text())
        except FileNotFoundError:
            raise BnnHwError(f"{given}: no build report there (a build folder holds report.json)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BnnHwError(f"{path}: not a readable report.json ({e})") from None
        if not isinstance(report, dict) or "totals" not in report or "layers" not in report:
            raise BnnHwError(f"{path}: not a bnn-hw build report (no totals or layers)")
        found.append((path.resolve().parent.name, path, report))
    names = [name for name, _, _ in found]
    return [(name if names.count(name) == 1 else str(path.parent), report) for name, path, report in found]


def _get(report: dict, *keys, default=None):
    """``report[keys[0]][keys[1]]...``, a figure's value for a figure, ``default`` where one is missing."""
    value = report
    for key in keys:
        if isinstance(value, dict) and "value" in value and key not in value:
            value = value["value"]
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value["value"] if isinstance(value, dict) and "value" in value else value


def _slowest(report: dict) -> str:
    layer = max(report["layers"], key=lambda r: r["cycles_per_frame"])
    return f"{layer['name']} {folding_label(layer)}"


def _fmax(report: dict) -> str | None:
    measured = clocks(report)
    return None if not measured else f"{measured[0][1]:g} / {measured[0][2]:g}"


#: The compared figures: their label and how each is read from a report (None: not in that report).
METRICS = (
    ("test accuracy %", lambda r: _percent(_get(r, "model", "test_accuracy"))),
    ("board", lambda r: r["board"]),
    ("device", lambda r: r["device"]),
    ("stages", lambda r: len(r["layers"])),
    ("slowest stage", _slowest),
    ("clock MHz", lambda r: _get(r, "totals", "clock_mhz")),
    ("cycles per frame", lambda r: _get(r, "totals", "cycles_per_frame")),
    ("latency cycles", lambda r: _get(r, "totals", "latency_cycles")),
    ("frames/s at clock", lambda r: round(_get(r, "totals", "frames_per_second_at_clock"))),
    ("Fmax / constraint MHz", _fmax),
    ("timing met", lambda r: _get(r, "totals", "timing_met")),
    ("frames/s at Fmax", lambda r: _get(r, "totals", "frames_per_second_at_fmax")),
    ("LUT4 estimated", lambda r: _get(r, "totals", "estimated", "lut4")),
    ("LUT4 measured", lambda r: _get(r, "totals", "post_pnr_utilization", "lut4", "used")),
    ("FF estimated", lambda r: _get(r, "totals", "estimated", "ff")),
    ("FF measured", lambda r: _get(r, "totals", "post_pnr_utilization", "ff", "used")),
    ("logic cells measured", lambda r: _get(r, "totals", "post_pnr_utilization", "logic_cells", "used")),  # iCE40
    ("EBR estimated", lambda r: _get(r, "totals", "estimated", "ebr")),
    ("EBR measured", lambda r: _get(r, "totals", "post_pnr_utilization", "ebr", "used")),
    ("energy nJ/inference", lambda r: _get(r, "totals", "energy_per_inference_pj", "total") / 1000),
    ("energy nJ 32-bit", lambda r: _get(r, "totals", "energy_32bit_baseline_pj", "total") / 1000),
    ("energy ratio 32-bit", lambda r: _get(r, "totals", "energy_ratio_32bit_to_binary")),
)


def _percent(fraction):
    return None if fraction is None else round(100 * fraction, 2)


def render_compare_markdown(reports: list[tuple[str, dict]]) -> str:
    """The builds as a Markdown table, a row a build (the README's results table): test accuracy,
    measured LUT4, FF (and those moved into block RAM output registers), EBR, the pipeline clock's
    Fmax, cycles per frame (and after the input stage, where that is faster), frames/s at the clock
    and at Fmax, and the energy estimate."""
    lines = ["| network | test accuracy | LUT4 | FF | EBR | Fmax (constraint) | cycles/frame | frames/s at the clock "
             "(at Fmax) | energy per inference |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in reports:
        def measured(resource):
            value = _get(r, "totals", "post_pnr_utilization", resource, "used")
            return "-" if value is None else f"{value:,}"
        accuracy = _percent(_get(r, "model", "test_accuracy"))
        moved = (r.get("block_ram_output_registers") or {}).get("flip_flops")
        ff = measured("ff") + (f" + {moved:,}" if moved else "")
        pipeline = clocks(r)
        fmax = f"{pipeline[0][1]:g} MHz ({pipeline[0][2]:g})" if pipeline else "-"
        cycles = f"{_get(r, 'totals', 'cycles_per_frame'):,}"
        core = _get(r, "totals", "core_cycles_per_frame")
        if core is not None:
            cycles += f" (core: {core:,})"
        rate = f"{_get(r, 'totals', 'frames_per_second_at_clock'):,.0f} at {_get(r, 'totals', 'clock_mhz'):g} MHz"
        at_fmax = _get(r, "totals", "frames_per_second_at_fmax")
        if at_fmax is not None:
            rate += f" ({at_fmax:,.0f})"
        energy = _get(r, "totals", "energy_per_inference_pj", "total") / 1000
        lines.append(f"| {name} | {'-' if accuracy is None else f'{accuracy:.2f}%'} | {measured('lut4')} | {ff} | "
                     f"{measured('ebr')} | {fmax} | {cycles} | {rate} | {energy:,.2f} nJ |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.0f}" if value >= 1000 else f"{value:.2f}"
    return str(value)


def comparison_rows(reports: list[tuple[str, dict]]) -> list[list[str]]:
    """The table of :data:`METRICS`: a row a figure, its label then one cell a build ("-": not measured)."""
    return [[label] + [_cell(get(report)) for _, report in reports] for label, get in METRICS]


def render_compare_text(reports: list[tuple[str, dict]]) -> str:
    """The builds side by side for the terminal: a column a build, a row a figure."""
    rows = comparison_rows(reports)
    widths = [max(len(row[k]) for row in rows + [[""] + [name for name, _ in reports]]) + 2
              for k in range(len(reports) + 1)]
    header = f"{'':<{widths[0]}}" + "".join(f"{name:>{w}}" for (name, _), w in zip(reports, widths[1:]))
    lines = [header] + [f"{row[0]:<{widths[0]}}" + "".join(f"{c:>{w}}" for c, w in zip(row[1:], widths[1:]))
                        for row in rows]
    return "\n".join(lines) + "\n(estimated: bnn-hw cost model; measured: nextpnr after place and route; "\
        "energy: 45nm ASIC-equivalent estimate)\n"


def _grouped(ax, names: list[str], series: list[tuple[str, list, str]], title: str, log: bool = False):
    """Bars of each build, one per series side by side: (label, values with None for missing, a
    colour or a colour a build)."""
    width = 0.8 / len(series)
    for k, (label, values, colour) in enumerate(series):
        colours = colour if isinstance(colour, list) else [colour] * len(names)
        shown = [(i + (k - (len(series) - 1) / 2) * width, v, c) for i, (v, c) in enumerate(zip(values, colours))
                 if v is not None]
        if shown:
            bars = ax.bar([x for x, _, _ in shown], [v for _, v, _ in shown], width, label=label,
                          color=[c for _, _, c in shown])
            ax.bar_label(bars, labels=[_cell(v) for _, v, _ in shown], fontsize=7, padding=1)
    ax.set_xticks(range(len(names)), plain(names), rotation=20, ha="right")
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.margins(y=0.2)
    if len(series) > 1:
        ax.legend(fontsize=7)


def _plots(reports: list[tuple[str, dict]]) -> str:
    names = [name for name, _ in reports]
    column = {label: [get(report) for _, report in reports] for label, get in METRICS}
    fig, axes = new_figure(11, 7.5, ncols=3, nrows=2)
    for ax, resource in zip(axes, ("LUT4", "FF", "EBR")):
        _grouped(ax, names, [("estimated", column[f"{resource} estimated"], ESTIMATED),
                             ("measured", column[f"{resource} measured"], MEASURED)], resource)
    measured = [clocks(report) for _, report in reports]
    _grouped(axes[3], names, [("Fmax", [m[0][1] if m else None for m in measured],
                               [MISSED if m and m[0][1] < m[0][2] else MET for m in measured]),
                              ("constraint", [m[0][2] if m else None for m in measured], "#999999")],
             "pipeline clock MHz (measured)")
    _grouped(axes[4], names, [("at the clock", column["frames/s at clock"], ESTIMATED),
                              ("at Fmax", column["frames/s at Fmax"], MEASURED)], "frames/s", log=True)
    _grouped(axes[5], names, [("bnn-hw", column["energy nJ/inference"], ESTIMATED),
                              ("32-bit maps/shortcuts", column["energy nJ 32-bit"], "#999999")],
             "energy nJ per inference")
    return figure_svg(fig)


def render_compare_html(reports: list[tuple[str, dict]]) -> str:
    """The builds side by side as one self-contained HTML page: the table of
    :func:`render_compare_text` and bar plots of LUT4, FF, EBR (estimated and measured), the
    pipeline clock's Fmax against its constraint, frames per second and energy per inference."""
    names = [name for name, _ in reports]
    with plotting():
        plots = _plots(reports)
    note = ('<p class="note">estimated: bnn-hw cost model; measured: nextpnr after place and route; '
            "energy: 45nm ASIC-equivalent estimate, not FPGA power</p>")
    return html_page("bnn-hw builds compared: " + ", ".join(names),
                     [("figures", html_table([""] + names, comparison_rows(reports)) + "\n" + note),
                      ("plots", f"<figure>\n{plots}\n<figcaption class=\"note\">"
                                f"{html.escape(', '.join(names))}</figcaption>\n</figure>")])
