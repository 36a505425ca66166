"""The LFC benchmark: BNN-PYNQ's LFC topology (784-1024-1024-1024-10, W1A1) built for the ULX3S 85F.

    python benchmarks/lfc.py [--target-fps N | --folding SPEC] [--build-dir DIR] [--clock MHZ]

The network has random weights and BatchNorm statistics (the hardware figures do not depend on what
the weights are) and binarised pixels as input (one threshold at 128, as LFC takes 1-bit MNIST).
The script compiles it, checks the NumPy reference against PyTorch on 1,000 random inputs, builds a
bitstream with ``bnn-hw build`` (or reads an earlier build's ``report.json`` with ``--build-dir``) and
prints frames/s, LUT4, FF, EBR, Fmax and binary operations per cycle per LUT next to BNN-PYNQ's
published figures for the same topology on a Zynq-7020 (Xilinx BNN-PYNQ, LFC W1A1: 356,633 images/s
at 200 MHz with 28,360 LUT6 and 110 BRAM tiles, as quoted in bnn-hw issue #6; cited, not measured).

A LUT6 is not a LUT4: a LUT6 holds any function of 6 inputs, a LUT4 one of 4, and a 6-input function
costs up to 4 LUT4 (2 with the ECP5's PFUMX). The ratio column therefore compares unlike units and is
printed as it is, with no conversion factor invented.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.boards import get_board
from bnn_hw.boards.build import ROUTERS
from bnn_hw.compiler.folding import parse_folding
from bnn_hw.compiler import compile_model

LFC = (784, 1024, 1024, 1024, 10)

#: BNN-PYNQ's LFC W1A1 on the Zynq-7020, as published; binary ops per frame are counted here.
BNN_PYNQ = {"frames_per_second": 356_633, "clock_mhz": 200, "lut6": 28_360, "bram36": 110}


def lfc_model(seed: int = 0) -> torch.nn.Sequential:
    """LFC with random weights and BatchNorm statistics spread like a trained network's."""
    g = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = [bnn.Thermometer([128])]
    for fan_in, width in zip(LFC[:-2], LFC[1:-1]):
        dense, bn = bnn.BinaryLinear(fan_in, width), torch.nn.BatchNorm1d(width)
        with torch.no_grad():
            dense.weight.normal_(generator=g)
            bn.running_mean.copy_(torch.randn(width, generator=g) * fan_in ** 0.5 / 4)
            bn.running_var.copy_(torch.rand(width, generator=g) * fan_in + 1)
            bn.weight.copy_(torch.randn(width, generator=g))
            bn.bias.copy_(torch.randn(width, generator=g))
        layers += [dense, bn, bnn.Sign()]
    last = bnn.BinaryLinear(LFC[-2], LFC[-1])
    with torch.no_grad():
        last.weight.normal_(generator=g)
    return torch.nn.Sequential(*layers, last).eval()


def binary_ops_per_frame() -> int:
    """XNOR + popcount operations (2 per weight bit) of one LFC inference."""
    return 2 * sum(a * b for a, b in zip(LFC[:-1], LFC[1:]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    auto = p.add_mutually_exclusive_group()
    auto.add_argument("--target-fps", type=float, help="cheapest folding reaching N frames/s")
    auto.add_argument("--folding", help="folding overrides, as for bnn-hw build")
    p.add_argument("--clock", type=float, help="core clock in MHz (default: the board's, 100)")
    p.add_argument("--build-dir", help="read the figures from this earlier build instead of building")
    p.add_argument("--router", choices=ROUTERS,
                   help="nextpnr's router (default: nextpnr's, router1, which routes the LFC since the reset "
                        "runs on a global line: a 2,309 s build on 2 cores)")
    args = p.parse_args(argv)

    torch.set_num_threads(2)
    model = lfc_model()
    net = Path(tempfile.mkdtemp(prefix="bnn_hw_lfc_")) / "lfc.pt"
    bnn_hw.save(model, net)
    board = get_board("ulx3s-85f")
    clock_hz = board.core_clock(args.clock).hz
    plan = compile_model(bnn_hw.load(net), parse_folding(args.folding) if args.folding else None,
                         target_fps=args.target_fps, clock_hz=clock_hz, block_ram=board.chip.block_ram)
    print("LFC 784-1024-1024-1024-10, random weights; folding: "
          + ", ".join(f"{name} {fold}" for name, fold in plan.folds.items()))

    x = np.random.default_rng(1).integers(0, 256, (1000, 784), dtype=np.uint8)
    with torch.no_grad():
        torch_scores = model(torch.as_tensor(x)).numpy().astype(np.int64)
    exact = bool((plan.predict(x)[1] == torch_scores).all())
    print(f"NumPy reference == PyTorch on 1,000 random inputs: {exact}")
    if not exact:
        sys.exit("reference mismatch: this is a bug")

    build_dir = args.build_dir
    if build_dir is None:
        build_dir = tempfile.mkdtemp(prefix="bnn_hw_lfc_build_")
        command = ["build", "--board", "ulx3s-85f", str(net), "-o", build_dir]
        command += ["--target-fps", str(args.target_fps)] if args.target_fps else []
        command += ["--folding", args.folding] if args.folding else []
        command += ["--clock", str(args.clock)] if args.clock else []
        command += ["--router", args.router] if args.router else []
        start = time.monotonic()
        from bnn_hw.cli import main as cli
        if cli(command) != 0:
            sys.exit("build failed")
        print(f"build: {time.monotonic() - start:.0f} s")
    totals = json.loads((Path(build_dir) / "report.json").read_text())["totals"]
    used = {k: v["value"]["used"] for k, v in totals["post_pnr_utilization"].items()}
    fmax = totals["fmax_mhz"]["value"]["achieved"]
    cycles = totals["cycles_per_frame"]["value"]
    ops = binary_ops_per_frame()

    ours_fps = fmax * 1e6 / cycles
    pynq_cycles = BNN_PYNQ["clock_mhz"] * 1e6 / BNN_PYNQ["frames_per_second"]
    rows = [
        ("", "bnn-hw, ULX3S 85F (measured)", "BNN-PYNQ LFC-max, Zynq-7020 (published)"),
        ("clock", f"{fmax:.1f} MHz (Fmax)", f"{BNN_PYNQ['clock_mhz']} MHz"),
        ("cycles per frame", f"{cycles:,} (estimate, cocotb-checked model)", f"{pynq_cycles:,.0f} (derived)"),
        ("frames/s", f"{ours_fps:,.0f} at Fmax", f"{BNN_PYNQ['frames_per_second']:,}"),
        ("LUTs", f"{used['lut4']:,} LUT4", f"{BNN_PYNQ['lut6']:,} LUT6"),
        ("FF", f"{used['ff']:,}", "-"),
        ("block RAM", f"{used['ebr']} EBR (18 kbit)", f"{BNN_PYNQ['bram36']} BRAM tiles"),
        ("binary ops per cycle", f"{ops / cycles:,.0f}", f"{ops / pynq_cycles:,.0f}"),
        ("binary ops per cycle per LUT", f"{ops / cycles / used['lut4']:.3f} per LUT4",
         f"{ops / pynq_cycles / BNN_PYNQ['lut6']:.3f} per LUT6"),
    ]
    for name, ours, theirs in rows:
        print(f"{name:<30}{ours:<40}{theirs}")
    print(f"timing met at {totals['clock_mhz']['value']:g} MHz: {totals['timing_met']['value']}")


if __name__ == "__main__":
    main()
