"""Cycles per frame of a network with logic shortcuts, with the shortcut FIFOs at the deadlock-free
depth and at the depth the compiler gives them, measured in cocotb.

    python benchmarks/shortcut_fifo.py [examples/fmnist_boolnet/net.pt] [--images 10]

The deadlock-free depth (:func:`bnn_hw.compiler.blocks.deadlock_free_depth`) holds only what a
block's body must see before each result; :func:`~bnn_hw.compiler.blocks.shortcut_depth` holds what
the body can take ahead of its results, so the shortcut never holds the fork back. The script builds
the same plan twice, once with the smaller depth, simulates the Verilog on Fashion-MNIST test images
and prints the measured cycles per frame beside the estimate (the slowest stage's cycles).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from unittest import mock

import bnn_hw
from bnn_hw.compiler import blocks, plan as plan_module
from bnn_hw.compiler import Block, compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.sim.runner import simulate

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "examples", "fmnist_boolnet", "net.pt")


def measure(model, frames, depth_rule) -> tuple[list[int], float, int]:
    """(FIFO depths, measured cycles per frame, estimate) with ``depth_rule`` giving the depths."""
    with mock.patch.object(plan_module, "shortcut_depth", depth_rule):
        plan = compile_model(model)
        depths = [item.join.bypass.depth for item in plan.layout if isinstance(item, Block)]
        result = simulate(plan, frames, build_dir=tempfile.mkdtemp(prefix="bnn_hw_fifo_"))
    if result.mismatches(*plan.predict(frames)):
        raise SystemExit("hardware differs from the reference: this is a bug")
    return depths, result.cycles_per_frame, plan.bottleneck.cost.cycles


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", default=DEFAULT)
    p.add_argument("--images", type=int, default=10)
    args = p.parse_args(argv)
    model = bnn_hw.load(args.model)
    frames = fashion_mnist("test")[0][:args.images]
    print(f"{'shortcut FIFO depth':<22}{'depths':<18}{'cycles/frame (cocotb)':>22}{'estimate':>10}")
    for name, rule in (("deadlock-free", blocks.deadlock_free_depth), ("compiler's", blocks.shortcut_depth)):
        depths, cycles, estimate = measure(model, frames, rule)
        print(f"{name:<22}{str(depths):<18}{cycles:>22.1f}{estimate:>10}", flush=True)


if __name__ == "__main__":
    main()
