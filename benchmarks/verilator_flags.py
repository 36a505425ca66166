"""Does Verilator's -O3 (or another C++ optimisation level) pay for itself? For shipped examples, build
the pipeline's Verilog with each variant of the Verilator flags and simulate N test images, and print
the build time (Verilator and the C++ compile) and the simulation time of each.

    python benchmarks/verilator_flags.py [--images 100] [--examples fmnist_mlp,fmnist_cnv]
                                         [--variants NAME,...] [--repeat 1]

Variants (``--variants``, default all) are named ``<Verilator's optimisation> OPT_FAST=<C++ level>``:
Verilator's ``-O3``, its default (no ``-O``) or ``-O0`` (its optimisations off), and the C++ compiler's
level for the model's per-cycle code (``OPT_FAST`` in Verilator's make rules, set in ``MAKEFLAGS``;
verilated.mk's own default is -Os). ``-O3 OPT_FAST=-Os`` was bnn-hw's default before this benchmark,
``default OPT_FAST=-O1`` is since.

Each build is into a new, empty build cache (``BNN_HW_SIM_CACHE`` set to a temporary folder), so it
compiles everything; the simulation then runs the cached build, as a second run of the test suite
does. The simulation time includes the cocotb start (about 1.5 s: the simulator's embedded Python
importing the testbench). Both are given as wall time and as CPU time (user + system of the child
processes: Verilator, make, the C++ compiler, the simulation), which depends much less on other jobs
sharing the machine. Every run's scores are checked against the NumPy reference.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import bnn_hw
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.sim.build_cache import CACHE_ENV
from bnn_hw.sim.runner import TOPLEVEL, _read_result, _run_cocotb, _write_job, build_design
from bnn_hw.sim.verilog import write_verilog

ROOT = Path(__file__).resolve().parent.parent


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

#: name ("<Verilator's optimisation> OPT_FAST=<C++ level>") -> (Verilator arguments, make variables)
VARIANTS = {
    "-O3 OPT_FAST=-Os": (["-Wno-fatal", "-O3"], "OPT_FAST=-Os"),      # the default before this benchmark
    "default OPT_FAST=-Os": (["-Wno-fatal"], "OPT_FAST=-Os"),
    "-O3 OPT_FAST=-O2": (["-Wno-fatal", "-O3"], "OPT_FAST=-O2"),
    "default OPT_FAST=-O2": (["-Wno-fatal"], "OPT_FAST=-O2"),
    "-O0 OPT_FAST=-Os": (["-Wno-fatal", "-O0"], "OPT_FAST=-Os"),
    "default OPT_FAST=-O0": (["-Wno-fatal"], "OPT_FAST=-O0"),
    "default OPT_FAST=-O1": (["-Wno-fatal"], "OPT_FAST=-O1"),     # the default since this benchmark
    "-O0 OPT_FAST=-O1": (["-Wno-fatal", "-O0"], "OPT_FAST=-O1"),
}


def measure(example: str, images: int, variants: list[str], repeat: int, work: Path) -> list[dict]:
    plan = compile_model(bnn_hw.load(ROOT / "examples" / example / "net.pt"))
    frames = fashion_mnist("test")[0][:images]
    classes, scores = plan.predict(frames)
    folder = work / example
    folder.mkdir(parents=True)
    verilog = write_verilog(plan, folder / f"{TOPLEVEL}.v", name=TOPLEVEL)
    rows = []
    makeflags = os.environ.get("MAKEFLAGS", "")
    for name in variants:
        args, make_variables = VARIANTS[name]
        for attempt in range(repeat):
            run = folder / f"{name.replace(' ', '_')}-{attempt}"
            run.mkdir()
            os.environ[CACHE_ENV] = str(run / "cache")           # empty: the build compiles everything
            os.environ["MAKEFLAGS"] = f"{makeflags} {make_variables}".strip()
            try:
                start, cpu = time.perf_counter(), children_cpu()
                build = build_design("verilator", verilog, run, build_args=args)
                build_s, build_cpu = time.perf_counter() - start, children_cpu() - cpu
                assert build.built
                job, result = _write_job(plan, frames, run)
                start, cpu = time.perf_counter(), children_cpu()
                again = _run_cocotb("verilator", verilog, run, job, result, False, build_args=args)
                sim_s, sim_cpu = time.perf_counter() - start, children_cpu() - cpu
                assert not again.built, "the simulation rebuilt the design"
            finally:
                os.environ["MAKEFLAGS"] = makeflags
            got = _read_result(plan, result)
            wrong = got.mismatches(classes, scores)
            if wrong:
                raise SystemExit(f"{example} {name}: {wrong} frames differ from the reference")
            size = (build.path / TOPLEVEL).stat().st_size
            rows.append(dict(example=example, variant=name, build_s=build_s, sim_s=sim_s, build_cpu=build_cpu,
                             sim_cpu=sim_cpu, cycles=int(got.out_cycles[-1]), exe_mb=size / 2 ** 20))
            print(f"  {example:12s} {name:22s} build {build_s:7.1f} s ({build_cpu:7.1f} s CPU)  simulate "
                  f"{sim_s:6.1f} s ({sim_cpu:6.1f} s CPU)  load {os.getloadavg()[0]:.1f}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--examples", default="fmnist_mlp,fmnist_cnv")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--repeat", type=int, default=1, help="builds and simulations of each variant")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bnn_hw_verilator_flags_") as work:
        for example in args.examples.split(","):
            rows += measure(example.strip(), args.images, variants, args.repeat, Path(work))
    print(f"\n{args.images} images; load average at the end {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    print("| example | variant | build CPU (s) | simulate CPU (s) | build + simulate CPU (s) | build wall (s) | "
          "simulate wall (s) | simulated cycles | executable (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for example in dict.fromkeys(r["example"] for r in rows):
        for name in variants:
            mine = [r for r in rows if r["example"] == example and r["variant"] == name]
            med = {k: float(np.median([r[k] for r in mine])) for k in ("build_s", "sim_s", "build_cpu", "sim_cpu")}
            print(f"| {example} | {name} | {med['build_cpu']:.1f} | {med['sim_cpu']:.1f} | "
                  f"{med['build_cpu'] + med['sim_cpu']:.1f} | {med['build_s']:.1f} | {med['sim_s']:.1f} | "
                  f"{mine[0]['cycles']:,} | {mine[0]['exe_mb']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
