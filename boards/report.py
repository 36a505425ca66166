"""The build report: ``report.json`` (machine-readable) and ``report.txt`` (for people).

Every figure carries its provenance (``shared/DESIGN.md`` section 5): ``estimated`` numbers come from
the per-op cost models, ``measured`` ones from yosys' ``stat`` and nextpnr's ``--report`` JSON.
Which nextpnr resources are read depends on the chip's family (``TRELLIS_COMB``, ``DP16KD`` ... on
ECP5; ``ICESTORM_LC``, ``ICESTORM_RAM`` ... on iCE40); estimated block RAM counts the family's blocks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..compiler.plan import Plan
from .board import Board

__all__ = ["make_report", "write_report", "layer_table", "parse_yosys_cells"]


def _figure(value, provenance: str, source: str) -> dict:
    return {"value": value, "provenance": provenance, "source": source}


def layer_table(plan: Plan) -> list[dict]:
    """Per-stage folding and estimates."""
    rows = []
    for s in plan.stages:
        c = s.cost
        rows.append({
            "name": s.name, "op": repr(s.op), "in": str(s.in_type), "out": str(s.out_type),
            "pe": s.fold.pe, "simd": s.fold.simd, "cycles_per_frame": c.cycles,
            "lut4_est": c.lut4, "ff_est": c.ff, "ebr_est": c.ebr, "weight_bits": c.weight_bits,
            "feature_map_bits_buffered": c.buffer_bits,
            "memory_traffic_bits": c.weight_bits + s.in_type.bits + s.out_type.bits,
            "binary_ops": c.binary_ops,
        })
    return rows


def parse_yosys_cells(log: str) -> dict[str, int]:
    """Cell counts (``LUT4``, ``TRELLIS_FF``, ``DP16KD``, ...) of the last ``stat`` in a yosys log."""
    section = log.rsplit("Printing statistics", 1)[-1] if "Printing statistics" in log else ""
    cells: dict[str, int] = {}
    for count, name in re.findall(r"^\s+(\d+)\s+([A-Z][A-Z0-9_]*)\s*$", section, flags=re.M):
        cells.setdefault(name, int(count))
    return cells


def make_report(plan: Plan, board: Board, pnr: dict | None = None, yosys_log: str | None = None,
                clock_mhz: float | None = None) -> dict:
    """The report of ``plan`` on ``board`` at the core clock asked for with ``clock_mhz`` (default:
    the board's); measurements are included when the build ran. Block RAM is estimated in the
    board's blocks (the plan is costed for them if it is not already)."""
    chip = board.chip
    plan = plan.costed_for(chip.block_ram)
    total = plan.total
    slowest = plan.bottleneck
    cycles = slowest.cost.cycles
    latency = sum(s.cost.cycles for s in plan.stages) + plan.stages[0].cost.cycles
    core = board.core_clock(clock_mhz)
    clock = core.hz
    report = {
        "board": board.name, "device": board.device, "family": board.family.name,
        "block_ram": str(chip.block_ram),
        "layers": layer_table(plan),
        "totals": {
            "estimated": {k: _figure(getattr(total, k), "estimated", "bnn-hw cost model")
                          for k in ("lut4", "ff", "ebr", "weight_bits", "buffer_bits", "binary_ops")},
            "capacity": chip.capacity() | {"dsp": chip.dsp},
            "cycles_per_frame": _figure(cycles, "estimated", f"slowest stage {slowest.name} ({slowest.fold})"),
            "latency_cycles": _figure(latency, "estimated", "sum of stage cycles plus input transfer"),
            "clock_mhz": _figure(clock / 1e6, "constrained", core.source),
            "frames_per_second_at_clock": _figure(clock / cycles, "estimated", "clock / slowest stage cycles"),
        },
    }
    totals = report["totals"]
    if yosys_log is not None:
        totals["post_synthesis_cells"] = _figure(parse_yosys_cells(yosys_log), "measured", "yosys stat")
    if pnr is not None:
        util = pnr.get("utilization", {})
        totals["post_pnr_utilization"] = {
            key: _figure({"used": util[bel]["used"], "available": util[bel]["available"]}, "measured",
                         f"nextpnr --report ({bel})")
            for key, bel in board.family.pnr_resources.items() if bel in util}
        fmax = pnr.get("fmax", {})
        if fmax:
            clk_name, f = min(fmax.items(), key=lambda kv: kv[1]["achieved"])
            achieved = f["achieved"]
            constraint = round(f["constraint"], 2)   # nextpnr-ice40 gives 12.00004768371582 for 12 MHz
            totals["fmax_mhz"] = _figure({"achieved": round(achieved, 2), "constraint": constraint,
                                          "clock": clk_name}, "measured", "nextpnr --report")
            totals["timing_met"] = _figure(achieved >= f["constraint"], "measured", "nextpnr --report")
            totals["frames_per_second_at_fmax"] = _figure(round(achieved * 1e6 / cycles, 1), "derived",
                                                          "measured Fmax / estimated slowest-stage cycles")
            totals["latency_us_at_clock"] = _figure(round(latency / clock * 1e6, 2), "estimated",
                                                    "latency cycles / clock")
    return report


def _fmt(fig):
    return fig["value"] if isinstance(fig, dict) and "value" in fig else fig


def render_text(report: dict) -> str:
    """The human-readable report."""
    lines = [f"bnn-hw report: {report['board']} ({report['device']}, EBR = {report['block_ram']})", "",
             f"{'layer':<16}{'op':<36}{'PExSIMD':>9}{'cycles':>8}{'LUT4~':>8}{'FF~':>7}{'EBR~':>6}"
             f"{'weights':>9}{'fm bits':>9}"]
    for r in report["layers"]:
        lines.append(f"{r['name']:<16}{r['op'][:35]:<36}{str(r['pe']) + 'x' + str(r['simd']):>9}"
                     f"{r['cycles_per_frame']:>8}{r['lut4_est']:>8}{r['ff_est']:>7}{r['ebr_est']:>6}"
                     f"{r['weight_bits']:>9}{r['feature_map_bits_buffered']:>9}")
    t = report["totals"]
    lines += ["", "(~ = estimated by the bnn-hw cost model)", ""]
    est = t["estimated"]
    lines.append(f"estimated: LUT4 {_fmt(est['lut4'])}, FF {_fmt(est['ff'])}, EBR {_fmt(est['ebr'])} "
                 f"(device: LUT4 {t['capacity']['lut4']}, FF {t['capacity']['ff']}, EBR {t['capacity']['ebr']})")
    if "post_pnr_utilization" in t:
        parts = [f"{k.upper().replace('_', ' ')} {v['value']['used']}/{v['value']['available']}"
                 for k, v in t["post_pnr_utilization"].items()]
        lines.append("measured after place and route: " + ", ".join(parts))
    if "fmax_mhz" in t:
        f = t["fmax_mhz"]["value"]
        lines.append(f"measured Fmax: {f['achieved']} MHz (constraint {f['constraint']} MHz, clock {f['clock']})")
        if not t["timing_met"]["value"]:
            lines.append(f"WARNING: timing NOT met: the design may fail at {f['constraint']} MHz; "
                         f"rebuild with --clock {int(f['achieved'])} or fold the slowest path further")
    lines.append(f"cycles per frame: {_fmt(t['cycles_per_frame'])} (estimated; {t['cycles_per_frame']['source']})")
    lines.append(f"latency: {_fmt(t['latency_cycles'])} cycles (estimated)")
    lines.append(f"throughput at {_fmt(t['clock_mhz'])} MHz: {_fmt(t['frames_per_second_at_clock']):.0f} frames/s")
    if "frames_per_second_at_fmax" in t:
        lines.append(f"throughput at Fmax: {_fmt(t['frames_per_second_at_fmax']):.0f} frames/s")
    interface = report.get("interface")
    if interface and interface["kind"] == "uart":
        lines.append(f"interface: UART inference server at {interface['baud']} baud "
                     f"({interface['cycles_per_bit']} cycles per bit), design id {interface['design_id']}")
    elif interface:
        lines.append(f"interface: LED demo of {interface['images']} stored test images")
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.txt").write_text(render_text(report))
