"""The build report: ``report.json`` (machine-readable), ``report.txt`` and ``report.html`` (for people,
the latter with plots: :mod:`bnn_hw.boards.report_html`).

Every figure carries its provenance (``docs/conventions.md``): ``estimated`` numbers come from
the per-op cost models, ``measured`` ones from yosys's ``stat -json`` and nextpnr's ``--report`` JSON.
Which nextpnr resources are read depends on the chip's family (``TRELLIS_COMB``, ``DP16KD`` ... on
ECP5; ``ICESTORM_LC``, ``ICESTORM_RAM`` ... on iCE40); estimated block RAM counts the family's blocks.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..compiler.energy import CITATION, HOROWITZ_45NM, PROVENANCE, energy_pj, plan_traffic, real_valued_baseline
from ..compiler.plan import Plan
from .board import Board

__all__ = ["make_report", "write_report", "layer_table", "energy_totals", "yosys_cells", "critical_path", "model_record",
           "figure_value"]


def _figure(value, provenance: str, source: str) -> dict:
    return {"value": value, "provenance": provenance, "source": source}


def layer_table(plan: Plan) -> list[dict]:
    """Per-stage folding, estimates, on-chip buffers, memory traffic and operations per inference."""
    rows = []
    for s, (_, traffic, fmap_buffer, shortcut_buffer) in zip(plan.stages, plan_traffic(plan).rows):
        c = s.cost
        rows.append({
            "name": s.name, "op": repr(s.op), "in": str(s.in_type), "out": str(s.out_type),
            "pe": s.fold.pe, "simd": s.fold.simd, "cycles_per_frame": c.cycles,
            "lut4_est": c.lut4, "ff_est": c.ff, "ebr_est": c.ebr, "weight_bits": c.weight_bits,
            "feature_map_bits_buffered": fmap_buffer,
            "shortcut_bits_buffered": shortcut_buffer,
            "weight_traffic_bits": traffic.weight_bits,
            "feature_map_traffic_bits": traffic.fmap_bits + traffic.pixel_bits,
            "shortcut_traffic_bits": traffic.shortcut_bits + traffic.fixed_bits,
            "binary_ops": traffic.binary_ops,
            "integer_ops": traffic.int_ops,
            "energy_pj": round(energy_pj(traffic)["total"], 3),
            "energy_32bit_baseline_pj": round(energy_pj(real_valued_baseline(traffic))["total"], 3),
        } | ({"unrolled": True} if s.unrolled else {}) | ({"details": s.op.details()} if s.op.details() else {}))
    return rows


def value_kind(row: dict) -> str:
    """What a layer row's stage outputs, without the shape: ``bits`` (1-bit values), ``intW.F``
    (fixed point, ``F`` fraction bits), ``intW`` (integers: scores or sums) or ``real``."""
    return row["out"].split("[", 1)[0]


def folding_label(row: dict) -> str:
    """A layer row's folding as the report writes it: ``PExSIMD``, or ``unrolled`` (weights as logic)."""
    return "unrolled" if row.get("unrolled") else f"{row['pe']}x{row['simd']}"


def energy_totals(plan: Plan) -> dict:
    """Energy per inference (pJ, by part) of the plan and of its 32-bit feature-map / shortcut
    baseline, with their ratio: the 45 nm ASIC-equivalent estimate and its constants."""
    total = plan_traffic(plan).total
    ours, baseline = energy_pj(total), energy_pj(real_valued_baseline(total))
    return {
        "energy_per_inference_pj": _figure({k: round(v, 1) for k, v in ours.items()}, PROVENANCE, CITATION),
        "energy_32bit_baseline_pj": _figure({k: round(v, 1) for k, v in baseline.items()}, PROVENANCE,
                                            "the same network with 32-bit feature maps and shortcuts, "
                                            "float32 BatchNorm and shortcut adds; " + CITATION),
        "energy_ratio_32bit_to_binary": _figure(round(baseline["total"] / ours["total"], 2), PROVENANCE,
                                                "baseline / bnn-hw"),
        "energy_constants_pj": HOROWITZ_45NM,
        "traffic_bits": _figure({"weights": total.weight_bits, "feature_maps": total.fmap_bits + total.pixel_bits,
                                 "shortcuts": total.shortcut_bits + total.fixed_bits}, "estimated",
                                "bnn-hw traffic model (bits written and read per inference)"),
    }


def yosys_cells(stat: dict) -> dict[str, int]:
    """Cell counts (``LUT4``, ``TRELLIS_FF``, ``DP16KD``, ...) of the design in yosys's ``stat -json``
    (its ``design.num_cells_by_type``): the FPGA primitives, not yosys's own ``$`` cells
    (``$scopeinfo``)."""
    return {name: count for name, count in stat["design"]["num_cells_by_type"].items()
            if re.fullmatch(r"[A-Z][A-Z0-9_]*", name)}


def model_record(path: str | Path) -> dict:
    """Which model file a report is of (its path and SHA-256) and, when the training script's
    ``metrics.json`` lies beside it, the test accuracy recorded there."""
    path = Path(path).resolve()
    record = {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    metrics = path.parent / "metrics.json"
    try:
        accuracy = json.loads(metrics.read_text()).get("test_accuracy")
    except (OSError, ValueError, AttributeError):
        accuracy = None
    if isinstance(accuracy, (int, float)):
        record["test_accuracy"] = _figure(accuracy, "measured", f"{metrics} (the training script's run)")
    return record


def make_report(plan: Plan, board: Board, pnr: dict | None = None, yosys_stat: dict | None = None,
                clock_mhz: float | None = None, model: str | Path | None = None) -> dict:
    """The report of ``plan`` on ``board`` at the core clock asked for with ``clock_mhz`` (default:
    the board's); measurements are included when the build ran: nextpnr's ``--report`` JSON
    ``pnr`` and yosys's ``stat -json`` ``yosys_stat`` of the synthesised design. Block RAM is estimated
    in the board's blocks (the plan is costed for them if it is not already). ``model``, the model
    file's path, is recorded with :func:`model_record`."""
    chip = board.chip
    plan = plan.costed_for(chip.block_ram)
    total = plan.total
    slowest = plan.bottleneck
    cycles = slowest.cost.cycles
    latency = sum(s.latency for s in plan.stages) + plan.stages[0].cost.cycles
    core = board.core_clock(clock_mhz)
    clock = core.hz
    report = ({"model": model_record(model)} if model is not None else {}) | {
        "board": board.name, "device": board.device, "family": board.family.name,
        "block_ram": str(chip.block_ram),
        "layers": layer_table(plan),
        "totals": {
            "estimated": {k: _figure(getattr(total, k), "estimated", "bnn-hw cost model")
                          for k in ("lut4", "ff", "ebr", "dsp", "weight_bits", "buffer_bits", "binary_ops")},
            "capacity": chip.capacity(),
            "cycles_per_frame": _figure(cycles, "estimated", f"slowest stage {slowest.name} ({slowest.fold})"),
            "latency_cycles": _figure(latency, "estimated", "sum of stage latencies plus input transfer"),
            "clock_mhz": _figure(clock / 1e6, "constrained", core.source),
            "frames_per_second_at_clock": _figure(clock / cycles, "estimated", "clock / slowest stage cycles"),
        } | energy_totals(plan),
    }
    core = max((s.cost.cycles for s in plan.stages[1:]), default=cycles)
    if core < cycles:   # the input stage sets the pace: say what the rest could do with wider input words
        report["totals"] |= {
            "core_cycles_per_frame": _figure(core, "estimated", "slowest stage after the input stage"),
            "frames_per_second_core_at_clock": _figure(clock / core, "estimated",
                                                       "clock / slowest stage cycles after the input stage"),
        }
    totals = report["totals"]
    if yosys_stat is not None:
        totals["post_synthesis_cells"] = _figure(yosys_cells(yosys_stat), "measured", "yosys stat")
    if pnr is not None:
        util = pnr.get("utilization", {})
        totals["post_pnr_utilization"] = {
            key: _figure({"used": util[bel]["used"], "available": util[bel]["available"]}, "measured",
                         f"nextpnr --report ({bel})")
            for key, bel in board.family.pnr_resources.items() if bel in util}
        fmax = pnr.get("fmax", {})
        if fmax:
            # the pipeline's clock (constrained at the core clock; of several, the slowest), then the
            # others (the UART server's, when the PLL gives it an output of its own)
            ranked = sorted(fmax.items(), key=lambda kv: (abs(kv[1]["constraint"] - clock / 1e6) > 0.5,
                                                          kv[1]["achieved"]))
            clk_name, f = ranked[0]
            achieved = f["achieved"]
            constraint = round(f["constraint"], 2)   # nextpnr-ice40 gives 12.00004768371582 for 12 MHz
            totals["fmax_mhz"] = _figure({"achieved": round(achieved, 2), "constraint": constraint,
                                          "clock": clk_name}, "measured", "nextpnr --report")
            if len(ranked) > 1:
                totals["fmax_other_clocks_mhz"] = _figure(
                    {name: {"achieved": round(c["achieved"], 2), "constraint": round(c["constraint"], 2)}
                     for name, c in ranked[1:]}, "measured", "nextpnr --report")
            # every clock against its own constraint: the slowest clock need not be the one that fails
            met = all(clock["achieved"] >= clock["constraint"] for clock in fmax.values())
            totals["timing_met"] = _figure(met, "measured", "nextpnr --report")
            paths = [critical_path(p) for p in pnr.get("critical_paths", []) if p["from"] == p["to"]]
            if paths:
                totals["critical_paths"] = _figure(paths, "measured", "nextpnr --report")
            totals["frames_per_second_at_fmax"] = _figure(round(achieved * 1e6 / cycles, 1), "derived",
                                                          "measured Fmax / estimated slowest-stage cycles")
            totals["latency_us_at_clock"] = _figure(round(latency / clock * 1e6, 2), "estimated",
                                                    "latency cycles / clock")
    return report


def figure_value(fig):
    """A report figure's value (``fig`` itself when it is not a ``{"value": ...}`` figure)."""
    return fig["value"] if isinstance(fig, dict) and "value" in fig else fig


def render_text(report: dict) -> str:
    """The human-readable report."""
    return render_resources(report) + "\n" + render_energy(report)


def render_resources(report: dict) -> str:
    """The folding and resource part of the report."""
    lines = [f"bnn-hw report: {report['board']} ({report['device']}, EBR = {report['block_ram']})", "",
             f"{'layer':<16}{'op':<36}{'PExSIMD':>9}{'cycles':>8}{'LUT4~':>8}{'FF~':>7}{'EBR~':>6}"
             f"{'weights':>9}{'fm bits':>9}  out"]
    for r in report["layers"]:
        lines.append(f"{r['name']:<16}{r['op'][:35]:<36}{folding_label(r):>9}"
                     f"{r['cycles_per_frame']:>8}{r['lut4_est']:>8}{r['ff_est']:>7}{r['ebr_est']:>6}"
                     f"{r['weight_bits']:>9}{r['feature_map_bits_buffered']:>9}  {value_kind(r)}")
    for r in report["layers"]:
        if "details" in r:
            lines.append(f"{r['name']}: " + render_details(r["details"]))
    lines += ["", "(~ = estimated by the bnn-hw cost model; out = what a stage passes on: bits = 1-bit values, "
              "intW.F = W-bit fixed point with F fraction bits, intW = W-bit integer sums or scores)", ""]
    lines += summary_lines(report)
    return "\n".join(lines) + "\n"


def critical_path(path: dict) -> dict:
    """One of nextpnr's ``--report`` critical paths (within one clock) in brief: its clock, delay,
    the logic and routing parts of it, and the cells it starts and ends at."""
    steps = path["path"]
    routing = sum(step["delay"] for step in steps if step["type"] == "routing")
    total = sum(step["delay"] for step in steps)
    return {"clock": path["from"].split(" ", 1)[-1], "delay_ns": round(total, 2),
            "logic_ns": round(total - routing, 2), "routing_ns": round(routing, 2),
            "start": steps[0]["from"]["cell"], "end": steps[-1]["to"]["cell"]}


def summary_lines(report: dict) -> list[str]:
    """The totals of the folding and resource part, a sentence a line: estimated and measured
    resources, Fmax of each clock, cycles, latency, throughput, the interface and nextpnr's options
    (``report.txt`` and ``report.html`` both show them)."""
    t = report["totals"]
    lines = []
    est = t["estimated"]
    lut4, ff, ebr = (figure_value(est[k]) for k in ("lut4", "ff", "ebr"))
    dsp = figure_value(est["dsp"]) if "dsp" in est else 0
    multipliers = (f", DSP {dsp}", f", DSP {t['capacity']['dsp']}") if dsp else ("", "")
    lines.append(f"estimated: LUT4 {lut4}, FF {ff}, EBR {ebr}{multipliers[0]} "
                 f"(device: LUT4 {t['capacity']['lut4']}, FF {t['capacity']['ff']}, EBR {t['capacity']['ebr']}"
                 f"{multipliers[1]})")
    if "post_pnr_utilization" in t:
        parts = [f"{k.upper().replace('_', ' ')} {v['value']['used']}/{v['value']['available']}"
                 for k, v in t["post_pnr_utilization"].items()]
        lines.append("measured after place and route: " + ", ".join(parts))
    if "fmax_mhz" in t:
        f = t["fmax_mhz"]["value"]
        lines.append(f"measured Fmax: {f['achieved']} MHz (constraint {f['constraint']} MHz, clock {f['clock']})")
        for name, other in figure_value(t.get("fmax_other_clocks_mhz", {})).items():
            lines.append(f"  other clock {name}: {other['achieved']} MHz (constraint {other['constraint']} MHz)")
        for path in figure_value(t.get("critical_paths", [])):
            lines.append(f"  critical path of {path['clock']}: {path['delay_ns']} ns ({path['logic_ns']} logic, "
                         f"{path['routing_ns']} routing), {path['start']} -> {path['end']}")
        if not t["timing_met"]["value"]:
            lines.append(f"WARNING: timing NOT met: the design may fail at {f['constraint']} MHz; "
                         f"rebuild with --clock {int(f['achieved'])} or fold the slowest path further")
    outreg = report.get("block_ram_output_registers")
    if outreg:
        lines.append(f"block RAM output registers: {outreg['registered']} of {outreg['ports']} read ports "
                     f"({outreg['flip_flops']} flip-flops moved into the block RAMs: counted in the FF "
                     f"estimate, not in the measured FF)")
    dsp = report.get("dsp_registers")
    if dsp and dsp["multipliers"]:
        lines.append(f"DSP registers: {dsp['inputs']} of {dsp['multipliers']} multipliers with input registers, "
                     f"{dsp['outputs']} with output registers ({dsp['flip_flops']} flip-flops moved into them)")
    clock_mhz, latency = figure_value(t["clock_mhz"]), figure_value(t["latency_cycles"])
    lines.append(f"cycles per frame: {figure_value(t['cycles_per_frame'])} (estimated; {t['cycles_per_frame']['source']})")
    lines.append(f"latency: {latency} cycles, {latency / clock_mhz * 1e3:.0f} ns at {clock_mhz:g} MHz (estimated)")
    lines.append(f"throughput at {clock_mhz} MHz: {figure_value(t['frames_per_second_at_clock']):.0f} frames/s")
    if "core_cycles_per_frame" in t:
        lines.append(f"  the input stage sets that pace; the stages after it take "
                     f"{figure_value(t['core_cycles_per_frame'])} "
                     f"cycles per frame: {figure_value(t['frames_per_second_core_at_clock']):.0f} frames/s with wider "
                     f"input words (--folding {report['layers'][0]['name']}=1xN)")
    if "frames_per_second_at_fmax" in t:
        lines.append(f"throughput at Fmax: {figure_value(t['frames_per_second_at_fmax']):.0f} frames/s")
    interface = report.get("interface")
    if interface and interface["kind"] == "uart":
        own_clock = f", its own clock {interface['clock_mhz']:g} MHz" if interface.get("clock_mhz") not in (
            None, clock_mhz) else ""
        lines.append(f"interface: UART inference server at {interface['baud']} baud "
                     f"({interface['cycles_per_bit']} cycles per bit{own_clock}), design id {interface['design_id']}")
    elif interface:
        lines.append(f"interface: LED demo of {interface['images']} stored test images")
    if report.get("placement_seed") is not None:
        lines.append(f"nextpnr placement seed: {report['placement_seed']}")
    if report.get("router") is not None:
        lines.append(f"nextpnr router: {report['router']}")
    return lines


def render_details(details: dict) -> str:
    """A stage's details on one line: ``key value``, nested dictionaries in parentheses."""
    def value(v):
        if isinstance(v, dict):
            return "(" + ", ".join(f"{k} {value(x)}" for k, x in v.items()) + ")"
        return str(v)
    return ", ".join(f"{k.replace('_', ' ')} {value(v)}" for k, v in details.items())


#: The per-layer memory and operation columns of the report: title, key of a layer row, text width.
MEMORY_COLUMNS = (("fm buffered", "feature_map_bits_buffered", 12), ("sc buffered", "shortcut_bits_buffered", 12),
                  ("weights rd", "weight_traffic_bits", 12), ("fm traffic", "feature_map_traffic_bits", 12),
                  ("sc traffic", "shortcut_traffic_bits", 11), ("binary ops", "binary_ops", 12),
                  ("int ops", "integer_ops", 10))
#: The parts of the energy per inference, in the report's order (``real``: float32 operations).
ENERGY_PARTS = ("memory", "binary", "integer", "real", "total")


def render_energy(report: dict) -> str:
    """The memory and energy part of the report: on-chip bits, traffic and operations per layer, and
    the energy estimate beside the 32-bit baseline's."""
    titles, keys, widths = zip(*MEMORY_COLUMNS)
    lines = ["memory and operations per inference (estimated; bits)",
             f"{'layer':<16}" + "".join(f"{title:>{w}}" for title, w in zip(titles, widths))
             + f"{'nJ':>10}{'nJ 32-bit':>11}"]
    for r in report["layers"]:
        lines.append(f"{r['name']:<16}" + "".join(f"{r[k]:>{w}}" for k, w in zip(keys, widths))
                     + f"{r['energy_pj'] / 1000:>10.2f}{r['energy_32bit_baseline_pj'] / 1000:>11.2f}")
    totals = (sum(r[k] for r in report["layers"]) for k in keys)
    lines.append(f"{'total':<16}" + "".join(f"{total:>{w}}" for total, w in zip(totals, widths)))
    t = report["totals"]
    ours, base = t["energy_per_inference_pj"]["value"], t["energy_32bit_baseline_pj"]["value"]
    lines += ["", f"energy per inference in nJ ({PROVENANCE}, not FPGA power):",
              f"{'':<24}{'memory':>10}{'binary':>10}{'integer':>10}{'float32':>10}{'total':>10}"]
    for name, e in (("bnn-hw (as built)", ours), ("32-bit maps/shortcuts", base)):
        lines.append(f"{name:<24}" + "".join(f"{e[k] / 1000:>10.2f}" for k in ENERGY_PARTS))
    lines.append(f"ratio 32-bit / bnn-hw: {figure_value(t['energy_ratio_32bit_to_binary']):.2f}x")
    lines.append(f"constants (pJ): {', '.join(f'{k} {v:g}' for k, v in t['energy_constants_pj'].items())}")
    lines.append(f"source: {CITATION}")
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir: str | Path) -> None:
    """``report.json``, ``report.txt`` and ``report.html`` (with plots) of ``report`` in ``out_dir``."""
    from .report_html import render_html   # imports matplotlib: only when a report is written

    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.txt").write_text(render_text(report))
    (out_dir / "report.html").write_text(render_html(report))
