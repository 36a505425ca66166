"""The unrolled dense unit's cost model (and the folded sparse unit's) against yosys.

    python benchmarks/unrolled_cost.py [--cases NAME,...]

Each case is one stage of a small random network (the test suite's generators, fixed seeds),
synthesised alone by yosys ``synth_ecp5`` as ``cost_model.py`` does; the script prints the stage's
LUT4 and FF estimates beside the measured counts. The cases: a sparse 128 x 784 layer at 10%
connections unrolled (``sparse_unrolled``, several minutes), the next sparse layer folded 8 x 32
(``sparse_folded``), the sparse example's second layer (256 x 256 at 5%) unrolled
(``example_dense4``), and binary layers unrolled, 64 x 64 with thresholds (``binary_64``) and 10 x 64
giving scores (``binary_10``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))   # the random network generators

from conftest import random_mlp, random_sparse_mlp   # noqa: E402
from cost_model import synthesise                     # noqa: E402

from bnn_hw.boards.family import DP16KD                # noqa: E402
from bnn_hw.boards.toolchain import toolchain_env      # noqa: E402
from bnn_hw.compiler import compile_model              # noqa: E402
from bnn_hw.compiler.folding import parse_folding      # noqa: E402
from bnn_hw.hdl.registry import stage_hardware         # noqa: E402


def _sparse():
    return random_sparse_mlp(392, [128, 64], 10, thresholds=(64, 128), densities=[0.1, 0.1], seed=1)


def _example():
    from bnn_hw import load
    return load(ROOT / "examples" / "fmnist_sparse" / "net.pt")


CASES = {
    "sparse_unrolled": (_sparse, "dense1=unrolled"),
    "sparse_folded": (_sparse, "dense4=8x32"),
    "example_dense4": (_example, "dense4=unrolled"),
    "binary_64": (lambda: random_mlp(64, [64], 10, thresholds=(), seed=1), "dense0=unrolled"),
    "binary_10": (lambda: random_mlp(64, [64], 10, thresholds=(), seed=1), "dense3=unrolled"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    args = parser.parse_args(argv)
    yosys = toolchain_env()["YOSYS"]
    print(f"{'case':<18}{'stage':<10}{'fold':>8}{'LUT4 est':>10}{'meas':>8}{'FF est':>8}{'meas':>8}")
    for name in args.cases.split(","):
        model, spec = CASES[name]
        stage_name = spec.split("=")[0]
        plan = compile_model(model(), parse_folding(spec), block_ram=DP16KD)
        stage = next(s for s in plan.stages if s.name == stage_name)
        got = synthesise(stage_hardware(stage.op, stage.in_type, stage.fold), yosys)
        fold = "unrolled" if stage.unrolled else str(stage.fold)
        print(f"{name:<18}{stage_name:<10}{fold:>8}{stage.cost.lut4:>10,}{got['lut4']:>8,}{stage.cost.ff:>8,}"
              f"{got['ff']:>8,}", flush=True)


if __name__ == "__main__":
    main()
