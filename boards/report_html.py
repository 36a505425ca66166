"""``report.html``: the build report for people who look at pictures first.

One self-contained file: the plots are matplotlib's SVG output inlined in the page (no scripts, no
images or styles fetched from anywhere), the figures of ``report.txt`` beside them in tables. matplotlib
is imported when a page is drawn, not when bnn-hw is.
"""

from __future__ import annotations

import html
import io
import re
from contextlib import contextmanager

from .report import ENERGY_PARTS, MEMORY_COLUMNS, figure_value, folding_label, render_details, summary_lines

__all__ = ["render_html", "html_page", "html_table", "figure_svg", "new_figure", "plotting", "plain"]

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
.warning { color: #b00; font-weight: bold; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 0.5em 0; } svg { max-width: 100%; height: auto; }
"""

#: Colours of the plots: estimated figures, measured ones, the bottleneck, a missed constraint.
ESTIMATED, MEASURED, BOTTLENECK, MISSED, MET = "#7a9cc6", "#e08a3c", "#c0392b", "#c0392b", "#2e8b57"

_figures = 0   # numbers the SVGs of a process so that their element ids differ within a page


@contextmanager
def plotting():
    """matplotlib's settings for the plots of a page: text as SVG text, ids that do not change from
    run to run."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "bnn-hw"}):
        yield


def plain(names: list[str]) -> list[str]:
    """``names`` as matplotlib labels that show a ``$`` (nextpnr's ``$glbnet$clk``) as written, not as
    the start of mathematics."""
    return [name.replace("$", r"\$") for name in names]


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    """A matplotlib figure of ``width`` x ``height`` inches with ``nrows`` x ``ncols`` axes (a flat
    list, row by row; no pyplot, no GUI backend: :func:`figure_svg` draws it with the SVG backend)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, list(fig.subplots(nrows, ncols, squeeze=False).flat)


def figure_svg(fig) -> str:
    """``fig`` as an ``<svg>`` element to inline in HTML: text kept as text, no XML prologue or
    DOCTYPE (which names a DTD on the web), no metadata, and element ids made unique to the figure
    so that several plots share one page."""
    global _figures
    _figures += 1
    prefix = f"f{_figures}-"
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m[1]}"', svg)
    svg = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}{m[1]})", svg)
    return re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{prefix}{m[1]}"', svg)


def html_table(header: list[str], rows: list[list]) -> str:
    """An HTML table; cells are escaped, numbers right-aligned, text left-aligned."""
    def cell(value):
        text = isinstance(value, str) and not re.fullmatch(r"[\d.,x%/ -]*", value)
        return ('<td class="text">' if text else "<td>") + html.escape(str(value)) + "</td>"
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    lines += ["<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows]
    return "\n".join(lines + ["</table>"])


def html_page(title: str, sections: list[tuple[str, str]]) -> str:
    """A complete HTML document: ``title`` and the ``(heading, body HTML)`` sections."""
    body = "\n".join(f"<h2>{html.escape(heading)}</h2>\n{content}" for heading, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n")


def _fig(svg: str, caption: str) -> str:
    return f"<figure>\n{svg}\n<figcaption class=\"note\">{html.escape(caption)}</figcaption>\n</figure>"


def _pipeline(report: dict) -> str:
    """The stages as bars of their cycles per frame, folding in the labels, the slowest one marked."""
    layers = report["layers"]
    cycles = [r["cycles_per_frame"] for r in layers]
    slowest = max(range(len(layers)), key=lambda k: cycles[k])
    fig, (ax,) = new_figure(8, 0.6 + 0.35 * len(layers))
    labels = plain([f"{r['name']} ({folding_label(r)})" for r in layers])
    colours = [BOTTLENECK if k == slowest else ESTIMATED for k in range(len(layers))]
    bars = ax.barh(labels, cycles, color=colours)
    ax.bar_label(bars, labels=[f"{c}" + ("  bottleneck" if k == slowest else "") for k, c in enumerate(cycles)],
                 padding=3)
    ax.invert_yaxis()          # the input stage on top: the frames flow downwards
    if max(cycles) > 100 * max(min(cycles), 1):
        ax.set_xscale("log")
    ax.set_xlim(right=max(cycles) * (3 if ax.get_xscale() == "log" else 1.25))
    ax.set_xlabel("cycles per frame (estimated)")
    ax.set_title("pipeline stages (PExSIMD): the slowest sets the pace")
    return figure_svg(fig)


def _layer_resources(report: dict) -> str:
    """Estimated LUT4, FF and EBR of each stage, a panel each."""
    layers = report["layers"]
    fig, axes = new_figure(10, 0.8 + 0.35 * len(layers), ncols=3)
    for ax, (key, title) in zip(axes, (("lut4_est", "LUT4"), ("ff_est", "FF"), ("ebr_est", "EBR"))):
        values = [r[key] for r in layers]
        ax.bar_label(ax.barh(plain([r["name"] for r in layers]), values, color=ESTIMATED), padding=2, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(right=max(max(values), 1) * 1.35)
        ax.set_title(f"{title} (estimated)")
        if ax is not axes[0]:
            ax.set_yticklabels([])
    return figure_svg(fig)


def _device_fill(report: dict) -> str:
    """Used against available of each resource: measured after place and route where there is a
    measurement, else the estimate against the chip's capacity."""
    t = report["totals"]
    rows = []
    for key, figure in t.get("post_pnr_utilization", {}).items():
        rows.append((key.upper().replace("_", " ") + " (measured)", figure["value"]["used"], figure["value"]["available"],
                     MEASURED))
    for key in ("lut4", "ff", "ebr"):
        rows.append((f"{key.upper()} (estimated)", figure_value(t["estimated"][key]), t["capacity"][key], ESTIMATED))
    fig, (ax,) = new_figure(8, 0.6 + 0.35 * len(rows))
    names = [r[0] for r in rows]
    shares = [100 * used / available if available else 0 for _, used, available, _ in rows]
    bars = ax.barh(names, shares, color=[r[3] for r in rows])
    ax.bar_label(bars, labels=[f"{used}/{available} ({share:.1f}%)" for (_, used, available, _), share
                               in zip(rows, shares)], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(130, max(shares) * 1.3))
    ax.axvline(100, color="#555", linestyle="--", linewidth=1)
    ax.set_xlabel(f"% of {report['device']}")
    ax.set_title("device fill")
    return figure_svg(fig)


def clocks(report: dict) -> list[tuple[str, float, float]]:
    """The measured clocks of ``report``: (name, achieved MHz, constraint MHz), the pipeline's first;
    empty for a report without place and route."""
    t = report["totals"]
    if "fmax_mhz" not in t:
        return []
    f = t["fmax_mhz"]["value"]
    return [(f["clock"], f["achieved"], f["constraint"])] + [
        (name, c["achieved"], c["constraint"]) for name, c in figure_value(t.get("fmax_other_clocks_mhz", {})).items()]


def _fmax(report: dict) -> str:
    """Each clock's Fmax as a bar, its constraint as a tick across it."""
    measured = clocks(report)
    fig, (ax,) = new_figure(8, 0.7 + 0.45 * len(measured))
    names = plain([name for name, _, _ in measured])
    achieved = [a for _, a, _ in measured]
    bars = ax.barh(names, achieved, color=[MET if a >= c else MISSED for _, a, c in measured], height=0.5)
    ax.bar_label(bars, labels=[f"{a} MHz (constraint {c} MHz)" for _, a, c in measured], padding=3, fontsize=8)
    for k, (_, _, constraint) in enumerate(measured):
        ax.plot([constraint, constraint], [k - 0.4, k + 0.4], color="black", linewidth=2)
    ax.invert_yaxis()
    ax.set_xlim(0, max(achieved + [c for _, _, c in measured]) * 1.6)
    ax.set_xlabel("MHz (bar: Fmax measured by nextpnr; black tick: constraint)")
    ax.set_title("Fmax against the constraint")
    return figure_svg(fig)


def _traffic(report: dict) -> str:
    """Memory traffic of each stage per inference, stacked by kind."""
    layers = report["layers"]
    fig, (ax,) = new_figure(8, 0.8 + 0.35 * len(layers))
    names = plain([r["name"] for r in layers])
    left = [0] * len(layers)
    for key, label in (("weight_traffic_bits", "weights read"), ("feature_map_traffic_bits", "feature maps"),
                       ("shortcut_traffic_bits", "shortcuts")):
        values = [r[key] for r in layers]
        ax.barh(names, values, left=left, label=label)
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(left), 1) * 1.1)
    ax.set_xlabel("bits per inference (estimated)")
    ax.set_title("memory traffic per stage")
    fig.legend(loc="outside right upper", fontsize=8)
    return figure_svg(fig)


def _energy(report: dict) -> str:
    """The energy per inference by part, as built and with 32-bit feature maps and shortcuts."""
    t = report["totals"]
    fig, (ax,) = new_figure(8, 2.2)
    rows = (("bnn-hw (as built)", t["energy_per_inference_pj"]["value"]),
            ("32-bit maps/shortcuts", t["energy_32bit_baseline_pj"]["value"]))
    left = [0.0, 0.0]
    for part, label in zip(ENERGY_PARTS[:-1], ("memory", "binary ops", "integer ops", "float32 ops")):
        values = [e[part] / 1000 for _, e in rows]
        ax.barh([name for name, _ in rows], values, left=left, label=label)
        left = [a + b for a, b in zip(left, values)]
    ax.bar_label(ax.containers[-1], labels=[f"{e['total'] / 1000:.2f} nJ" for _, e in rows], padding=3)
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(left), 1e-3) * 1.3)
    ax.set_xlabel("nJ per inference (45 nm ASIC-equivalent estimate, not FPGA power)")
    ax.set_title(f"energy: 32-bit / bnn-hw = {figure_value(t['energy_ratio_32bit_to_binary']):.2f}x")
    fig.legend(loc="outside right upper", fontsize=8)
    return figure_svg(fig)


def _layer_rows(report: dict) -> str:
    rows = [[r["name"], r["op"], r["in"], r["out"], folding_label(r), r["cycles_per_frame"], r["lut4_est"],
             r["ff_est"], r["ebr_est"], r["weight_bits"], r["feature_map_bits_buffered"]] for r in report["layers"]]
    table = html_table(["layer", "op", "in", "out", "PExSIMD", "cycles", "LUT4~", "FF~", "EBR~", "weights",
                        "fm bits"], rows)
    details = [f"<li>{html.escape(r['name'])}: {html.escape(render_details(r['details']))}</li>"
               for r in report["layers"] if "details" in r]
    return table + ("\n<ul>\n" + "\n".join(details) + "\n</ul>" if details else "") + \
        '\n<p class="note">~ = estimated by the bnn-hw cost model</p>'


def _totals(report: dict) -> str:
    """Estimated totals beside the measured ones (yosys's cells, nextpnr's utilisation)."""
    t = report["totals"]
    measured = {k: v["value"]["used"] for k, v in t.get("post_pnr_utilization", {}).items()}
    header = ["resource", "estimated"] + (["measured (place and route)"] if measured else []) + ["device"]
    rows = []
    for key in dict.fromkeys(["lut4", "ff", "ebr", *measured]):
        estimate = figure_value(t["estimated"][key]) if key in t["estimated"] else ""
        capacity = t["capacity"].get(key, t.get("post_pnr_utilization", {}).get(key, {}).get("value", {})
                                     .get("available", ""))
        rows.append([key.upper().replace("_", " "), estimate] + ([measured.get(key, "")] if measured else [])
                    + [capacity])
    out = html_table(header, rows)
    cells = t.get("post_synthesis_cells")
    if cells:
        out += "\n<p>cells after synthesis (yosys):</p>\n" + html_table(["cell", "count"],
                                                                         [[k, v] for k, v in cells["value"].items()])
    return out


def _summary(report: dict) -> str:
    items = []
    for line in summary_lines(report):
        warning = ' class="warning"' if line.startswith("WARNING") else ""
        items.append(f"<li{warning}>{html.escape(line.strip())}</li>")
    return "<ul>\n" + "\n".join(items) + "\n</ul>"


def _memory(report: dict) -> str:
    titles, keys, _ = zip(*MEMORY_COLUMNS)
    rows = [[r["name"]] + [r[k] for k in keys] + [f"{r['energy_pj'] / 1000:.2f}",
                                                 f"{r['energy_32bit_baseline_pj'] / 1000:.2f}"]
            for r in report["layers"]]
    rows.append(["total"] + [sum(r[k] for r in report["layers"]) for k in keys] + ["", ""])
    return html_table(["layer", *titles, "nJ", "nJ 32-bit"], rows)


def _energy_table(report: dict) -> str:
    t = report["totals"]
    rows = [[name] + [f"{e[k] / 1000:.2f}" for k in ENERGY_PARTS]
            for name, e in (("bnn-hw (as built)", t["energy_per_inference_pj"]["value"]),
                            ("32-bit maps/shortcuts", t["energy_32bit_baseline_pj"]["value"]))]
    constants = ", ".join(f"{k} {v:g}" for k, v in t["energy_constants_pj"].items())
    return (html_table(["nJ per inference", "memory", "binary", "integer", "float32", "total"], rows)
            + f"\n<p>ratio 32-bit / bnn-hw: {figure_value(t['energy_ratio_32bit_to_binary']):.2f}x</p>"
            + f"\n<p>constants (pJ): {html.escape(constants)}</p>"
            + f"\n<p class=\"note\">{html.escape(t['energy_per_inference_pj']['provenance'])}, not FPGA power; "
            + f"source: {html.escape(t['energy_per_inference_pj']['source'])}</p>")


def render_html(report: dict) -> str:
    """``report`` (:func:`bnn_hw.boards.report.make_report`'s dictionary, or a ``report.json``) as one
    self-contained HTML page: the pipeline's stages with their folding and cycles per frame (the
    bottleneck marked), per-stage LUT4 / FF / EBR estimates, the estimated totals beside the measured
    ones, the device's fill, each clock's Fmax against its constraint (after place and route), memory
    traffic per stage and the energy per inference against the 32-bit baseline. Every figure of
    ``report.txt`` is in its tables; the plots are inline SVG (no scripts, nothing fetched)."""
    title = f"bnn-hw report: {report['board']} ({report['device']}, EBR = {report['block_ram']})"
    with plotting():
        return html_page(title, _sections(report))


def _sections(report: dict) -> list[tuple[str, str]]:
    t = report["totals"]
    sections = [
        ("pipeline", _fig(_pipeline(report), t["cycles_per_frame"]["source"]) + "\n" + _layer_rows(report)),
        ("resources", _fig(_layer_resources(report), "per stage, bnn-hw cost model") + "\n" + _totals(report)
         + "\n" + _fig(_device_fill(report), "used / available")),
    ]
    if clocks(report):
        sections.append(("timing", _fig(_fmax(report), "nextpnr --report")))
    sections += [
        ("totals", _summary(report)),
        ("memory and operations per inference (estimated; bits)",
         _fig(_traffic(report), t["traffic_bits"]["source"]) + "\n" + _memory(report)),
        ("energy per inference", _fig(_energy(report), t["energy_32bit_baseline_pj"]["source"]) + "\n"
         + _energy_table(report)),
    ]
    return sections
