"""The multiply-accumulate unit's cost model (``mac_cost`` in ``compiler/ops/fixed_conv.py``) against
yosys, at the foldings its docstring cites.

    python benchmarks/mac_cost.py [--folding conv1=8x9 ...] [--jobs 2]

Two layers, each stage synthesised alone by yosys ``synth_ecp5`` as ``benchmarks/cost_model.py`` does
and its cells counted the same way:

- the Bi-Real example's 1x1 downsampling convolution (``conv10_0_1``, a FixedConv in its block's
  branch) at 1x16, 1x16:dsp and 4x16:dsp;
- BNext's first convolution as ``examples/fmnist_bnext`` has it, ``PixelConv2d(1, 64, 3, padding=1,
  weight_bits=8)`` on 28x28 pixels, then BatchNorm and a sign (thresholds), with seeded random
  weights over the whole 8-bit range (a negated channel's -128 makes them 9 bits) and adversarial
  BatchNorm statistics; its stage includes the window generator and gearbox. ``--folding`` replaces
  its foldings.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import bnn_hw  # noqa: E402
from bnn_hw import nn as bnn  # noqa: E402
from bnn_hw.boards.family import DP16KD  # noqa: E402
from bnn_hw.boards.toolchain import toolchain_env  # noqa: E402
from bnn_hw.compiler import compile_model  # noqa: E402
from bnn_hw.compiler.folding import Fold, parse_folding  # noqa: E402
from bnn_hw.compiler.ops import FixedConv  # noqa: E402
from bnn_hw.hdl.registry import stage_hardware  # noqa: E402
from conftest import _adversarial_batchnorm  # noqa: E402
from cost_model import error, judged_units, synthesise  # noqa: E402

BIREAL = Path(__file__).resolve().parent.parent / "examples" / "fmnist_bireal" / "net.pt"
FIXED_FOLDS = [Fold(1, 16), Fold(1, 16, True), Fold(4, 16, True)]
FOLDINGS = ["default", "conv1=32x1", "conv1=8x9", "conv1=4x9", "conv1=1x9", "conv1=8x9:dsp", "conv1=2x9:dsp"]


def first_layer(channels: int = 64, seed: int = 0) -> torch.nn.Sequential:
    """ImageInput(1, 28, 28), PixelConv2d(8-bit weights), BatchNorm2d, Sign, MaxPool2d, Flatten and a
    BinaryLinear to 10 scores. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    conv, bn = bnn.PixelConv2d(1, channels, 3, 1, 1, weight_bits=8), torch.nn.BatchNorm2d(channels)
    with torch.no_grad():
        conv.weight.uniform_(-1.2, 1.2, generator=g)
    _adversarial_batchnorm(bn, 9 * 128 ** 4, g, 1)
    return torch.nn.Sequential(bnn.ImageInput(1, 28, 28), conv, bn, bnn.Sign(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), bnn.BinaryLinear(channels * 196, 10)).eval()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--folding", action="append", help=f"a folding (repeatable; default: {', '.join(FOLDINGS)})")
    p.add_argument("--jobs", type=int, default=2, help="yosys runs at a time")
    args = p.parse_args(argv)
    yosys, model = toolchain_env()["YOSYS"], first_layer()
    plan = compile_model(bnn_hw.load(BIREAL), block_ram=DP16KD)
    fixed = next(s for block in plan.layout for s in getattr(block, "branch", ()) if isinstance(s.op, FixedConv))
    units = [(f"{fixed.name} {fold}", fixed.op.cost(fixed.in_type, fold, DP16KD),
              [stage_hardware(fixed.op, fixed.in_type, fold)]) for fold in FIXED_FOLDS]
    for spec in args.folding or FOLDINGS:
        plan = compile_model(model, {} if spec == "default" else parse_folding(spec), block_ram=DP16KD)
        name, estimate, components = judged_units(plan)[0]
        units.append((f"{name} {plan.folds[name]}", estimate, components))
    with ThreadPoolExecutor(args.jobs) as pool:
        measured = list(pool.map(lambda unit: [synthesise(c, yosys) for c in unit[2]], units))
    print(f"{'stage':<20}" + "".join(f"{r.upper() + ' est':>10}{'meas':>8}{'err':>8}" for r in ("lut4", "ff", "dsp")))
    for (name, estimate, _), cells in zip(units, measured):
        est = estimate.as_dict()
        got = {r: sum(c[r] for c in cells) for r in ("lut4", "ff", "dsp")}
        classic = "  (classic ABC)" if any(c["abc"] for c in cells) else ""
        print(f"{name:<20}" + "".join(f"{est[r]:>10}{got[r]:>8}{error(est[r], got[r]):>+7.0%} "
                                      for r in ("lut4", "ff", "dsp")) + classic)

if __name__ == "__main__":
    main()
