"""Benchmark the spine on a model (default: the shipped Fashion-MNIST MLP; the CNV works too) and print
the figures.

    python benchmarks/spine.py [--model net.pt] [--images 200] [--build-dir DIR | --build]

Prints:
- NumPy reference images/s against the PyTorch model's images/s on the same 10,000 test images
  (whole batch, and one image at a time);
- compile time from net.pt to Verilog;
- cocotb simulation frames/s (Verilator) and the measured cycles per frame and latency;
- Fmax and utilization from a build's report.json (``--build-dir``), or from a fresh build (``--build``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

import bnn_hw
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.sim.runner import simulate
from bnn_hw.sim.verilog import write_verilog
from bnn_hw.training import model_inputs

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=ROOT / "examples" / "fmnist_mlp" / "net.pt")
    p.add_argument("--images", type=int, default=200, help="frames for the cocotb simulation")
    p.add_argument("--build-dir", help="read Fmax and utilization from this build's report.json")
    p.add_argument("--build", action="store_true", help="run a ULX3S 85F build to measure them")
    args = p.parse_args()

    torch.set_num_threads(2)
    model = bnn_hw.load(args.model)
    images, labels = fashion_mnist("test")
    print(f"model: {args.model}")

    start = time.perf_counter()
    plan = compile_model(model)
    t_compile = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        t_verilog = best_of(lambda: write_verilog(plan, Path(tmp) / "p.v"), 1)
    print(f"compile net.pt -> plan: {t_compile:.2f} s; plan -> Verilog: {t_verilog:.2f} s")

    x_torch = model_inputs(model, torch.as_tensor(images))
    with torch.no_grad():
        t_torch = best_of(lambda: model(x_torch))
        t_torch_1 = best_of(lambda: [model(x_torch[i:i + 1]) for i in range(500)])
    t_ref = best_of(lambda: plan.predict(images))
    t_ref_1 = best_of(lambda: [plan.predict(images[i:i + 1]) for i in range(500)])
    n = len(images)
    print(f"batch of {n}:  NumPy reference {n / t_ref:,.0f} images/s, PyTorch {n / t_torch:,.0f} images/s "
          f"(reference/PyTorch = {t_torch / t_ref:.2f}x)")
    print(f"one at a time: NumPy reference {500 / t_ref_1:,.0f} images/s, PyTorch {500 / t_torch_1:,.0f} "
          f"images/s (reference/PyTorch = {t_torch_1 / t_ref_1:.2f}x)")
    classes, scores = plan.predict(images)
    print(f"test accuracy (reference == PyTorch): {(classes == labels).mean():.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = simulate(plan, images[:args.images], build_dir=tmp)
        total = time.perf_counter() - start
    ok = result.mismatches(classes[:args.images], scores[:args.images]) == 0
    print(f"cocotb (Verilator): {args.images} frames in {total:.1f} s including the Verilator build "
          f"({args.images / total:.1f} frames/s); bit-exact: {ok}")
    print(f"measured cycles per frame {result.cycles_per_frame:.1f} (estimate {plan.bottleneck.cost.cycles}), "
          f"latency {result.latency_cycles} cycles")

    build_dir = args.build_dir
    if args.build:
        build_dir = tempfile.mkdtemp(prefix="bnn_hw_build_")
        from bnn_hw.cli import main as cli
        if cli(["build", "--board", "ulx3s", str(args.model), "-o", build_dir]) != 0:
            sys.exit("build failed")
    if build_dir:
        totals = json.loads((Path(build_dir) / "report.json").read_text())["totals"]
        f = totals["fmax_mhz"]["value"]
        used = {k: v["value"] for k, v in totals["post_pnr_utilization"].items()}
        print(f"Fmax {f['achieved']} MHz (constraint {f['constraint']} MHz); utilization: " +
              ", ".join(f"{k.upper()} {v['used']}/{v['available']}" for k, v in used.items()))
        print(f"throughput at Fmax: {totals['frames_per_second_at_fmax']['value']:,.0f} frames/s; "
              f"at the {totals['clock_mhz']['value']:g} MHz core clock "
              f"({totals['clock_mhz']['source']}): {totals['frames_per_second_at_clock']['value']:,.0f} frames/s; "
              f"timing met: {totals['timing_met']['value']}")


if __name__ == "__main__":
    main()
