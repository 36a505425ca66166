"""The sparse binary network beside the dense binary MLP, and what sparsity saves in a folded unit.

    python benchmarks/sparse_network.py [--model examples/fmnist_sparse/net.pt]
        [--dense-build DIR --unrolled-build DIR --folded-build DIR]

1. For each sparse layer of the model, at several foldings of the matrix-vector unit: how many of its
   weight words (``pe x simd`` mask bits, one a cycle) hold no connection at all, which a unit that
   skips them would neither store nor spend a cycle on; and how many bits the mask takes as a dense
   bit matrix, as the non-empty words (each with its word index), or as a list of beta positions
   (an index of ``ceil(log2 N)`` bits each, plus a count per channel). Computed exactly from the
   model's masks: it is the opportunity, not a measured unit.
2. With the three build folders (``bnn-hw build`` of the dense MLP, of the sparse model unrolled, and
   of the sparse model folded): each build's test accuracy, weight bits, synapses kept, LUT4, FF
   and EBR after place and route, Fmax, cycles per frame, frames/s at Fmax and frames/s per LUT4,
   side by side, from the builds' ``report.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

import bnn_hw
from bnn_hw.boards.report import figure_value
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.ops import Fold, SparseDense
from bnn_hw.intmath import ceil_div

ROOT = Path(__file__).resolve().parent.parent
FOLDS = (Fold(1, 8), Fold(1, 32), Fold(4, 16), Fold(8, 32), Fold(16, 64))


def word_occupancy(mask: np.ndarray, fold: Fold) -> dict:
    """The weight words of a ``pe x simd`` unit over ``mask`` (M, N) and how much skipping empty ones
    and other storage would take."""
    m, n = mask.shape
    nf, sf = ceil_div(m, fold.pe), ceil_div(n, fold.simd)
    padded = np.zeros((nf * fold.pe, sf * fold.simd), np.uint8)
    padded[:m, :n] = mask
    words = padded.reshape(nf, fold.pe, sf, fold.simd).any(axis=(1, 3))
    busy = int(words.sum())
    connections = int(mask.sum())
    return {
        "fold": str(fold), "words": nf * sf, "empty_words": nf * sf - busy,
        "cycles_dense": nf * sf, "cycles_skipping": busy,
        "bits_dense": nf * sf * fold.pe * fold.simd,
        "bits_skipping": busy * (fold.pe * fold.simd + max(1, math.ceil(math.log2(sf)))),
        "bits_positions": connections * max(1, math.ceil(math.log2(n))) + m * max(1, math.ceil(math.log2(n + 1))),
    }


def folded_savings(model_path: Path) -> list[dict]:
    plan = compile_model(bnn_hw.load(model_path))
    rows = []
    for stage in plan.stages:
        if isinstance(stage.op, SparseDense):
            op = stage.op
            rows.append({"layer": stage.name, "shape": f"{op.out_features}x{op.in_features}",
                         "beta_fraction": round(op.connections / op.mask.size, 4),
                         "folds": [word_occupancy(op.mask, f) for f in FOLDS]})
    return rows


def measured(build_dir: Path) -> dict:
    """The figures of one build's ``report.json``."""
    report = json.loads((build_dir / "report.json").read_text())
    totals = report["totals"]
    used = {r: figure_value(totals["post_pnr_utilization"][r])["used"] for r in ("lut4", "ff", "ebr")}
    fmax = figure_value(totals["fmax_mhz"])["achieved"]
    cycles = figure_value(totals["cycles_per_frame"])
    core = figure_value(totals.get("core_cycles_per_frame", cycles))
    sparse = [r["details"]["sparse"] for r in report["layers"] if "sparse" in r.get("details", {})]
    return {"test_accuracy": figure_value(report.get("model", {}).get("test_accuracy")),
            "weight_bits": sum(r["weight_bits"] for r in report["layers"]),
            "synapses_kept": sum(s["synapses_kept"] for s in sparse) if sparse else None,
            **used, "fmax_mhz": fmax, "cycles_per_frame": cycles, "core_cycles_per_frame": core,
            "frames_per_second": round(fmax * 1e6 / cycles),
            "frames_per_second_per_lut4": round(fmax * 1e6 / cycles / used["lut4"], 1),
            "core_frames_per_second_per_lut4": round(fmax * 1e6 / core / used["lut4"], 1)}


def _print_savings(rows: list[dict]) -> None:
    print("folded sparse layers: what skipping empty weight words or storing beta positions would save")
    print(f"{'layer':<10}{'fold':>7}{'words':>8}{'empty':>8}{'cycles':>8}{'skipping':>9}"
          f"{'mask bits':>11}{'skipping':>10}{'positions':>11}")
    for row in rows:
        for f in row["folds"]:
            print(f"{row['layer']:<10}{f['fold']:>7}{f['words']:>8}{f['empty_words']:>8}{f['cycles_dense']:>8}"
                  f"{f['cycles_skipping']:>9}{f['bits_dense']:>11,}{f['bits_skipping']:>10,}{f['bits_positions']:>11,}")
        print(f"  ({row['layer']}: {row['shape']}, beta fraction {row['beta_fraction']})")


def _print_builds(builds: dict) -> None:
    labels = (("test accuracy", "test_accuracy", "{:.2%}"), ("weight bits", "weight_bits", "{:,}"),
              ("synapses kept", "synapses_kept", "{:,}"), ("LUT4", "lut4", "{:,}"), ("FF", "ff", "{:,}"),
              ("EBR", "ebr", "{:,}"), ("Fmax MHz", "fmax_mhz", "{:.2f}"), ("cycles/frame", "cycles_per_frame", "{:,}"),
              ("frames/s at Fmax", "frames_per_second", "{:,}"),
              ("frames/s per LUT4", "frames_per_second_per_lut4", "{:,}"),
              ("core frames/s per LUT4", "core_frames_per_second_per_lut4", "{:,}"))
    print(f"\n{'measured (nextpnr)':<24}" + "".join(f"{name:>16}" for name in builds))
    for label, key, fmt in labels:
        cells = ["-" if b[key] is None else fmt.format(b[key]) for b in builds.values()]
        print(f"{label:<24}" + "".join(f"{c:>16}" for c in cells))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "examples/fmnist_sparse/net.pt")
    parser.add_argument("--dense-build", type=Path, help="a bnn-hw build of examples/fmnist_mlp/net.pt")
    parser.add_argument("--unrolled-build", type=Path, help="a bnn-hw build of --model, its sparse layers unrolled")
    parser.add_argument("--folded-build", type=Path, help="a bnn-hw build of --model, folded")
    args = parser.parse_args(argv)
    results = {"folded_savings": folded_savings(args.model)}
    _print_savings(results["folded_savings"])
    named = {"dense folded": args.dense_build, "sparse unrolled": args.unrolled_build,
             "sparse folded": args.folded_build}
    if any(named.values()):
        results["builds"] = {name: measured(path) for name, path in named.items() if path}
        _print_builds(results["builds"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
