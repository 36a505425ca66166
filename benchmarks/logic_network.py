"""A logic-gate network's NumPy reference against PyTorch, and its hardware's frames/s per LUT4.

    python benchmarks/logic_network.py [--model examples/fmnist_logic/net.pt] [--frames 100000]
        [--build-dir DIR --mlp-build-dir DIR]

1. Speed on one core (``torch.set_num_threads(1)``) of three ways to classify the same Fashion-MNIST
   test images (repeated to ``--frames``): PyTorch's eval-mode forward of the model (batches of
   10,000), the compiled plan's reference (:meth:`~bnn_hw.compiler.plan.Plan.predict`: the
   thermometer code, then the gate network bit-sliced, 64 frames per machine word, then the group
   popcounts), and the gate network alone on frames already bit-sliced. The three results are checked
   equal first.
2. With ``--build-dir`` (a ``bnn-hw build`` of the model) and ``--mlp-build-dir`` (a build of the
   shipped binary MLP): measured Fmax and LUT4 after place and route from both builds' ``report.json``,
   the frames/s each reaches (at Fmax: the core's one frame per cycle and the input-limited rate of
   the words it is fed), and frames/s per LUT4.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import bnn_hw
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.gates import pack_frames
from bnn_hw.compiler.ops import GateNetwork
from bnn_hw.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parent.parent


def _best(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def speed(model_path: Path, frames: int) -> dict:
    torch.set_num_threads(1)
    model = bnn_hw.load(model_path)
    plan = compile_model(model)
    images = fashion_mnist("test")[0].reshape(10000, -1)
    x = np.resize(images, (frames, images.shape[1])).astype(np.uint8)

    def run_torch():
        with torch.no_grad():
            return np.concatenate([model(torch.from_numpy(x[i:i + 10000]).float()).numpy()
                                   for i in range(0, frames, 10000)])

    network = next(n.op for n in plan.graph.nodes if isinstance(n.op, GateNetwork))
    thermometer = plan.graph.nodes[0].op.reference(x)
    sliced = pack_frames(thermometer)
    torch_scores = run_torch()
    _, scores = plan.predict(x)
    assert np.array_equal(scores, torch_scores), "the reference differs from PyTorch"
    times = {"pytorch_eval": _best(run_torch, 2), "reference": _best(lambda: plan.predict(x), 2),
             "gate_network_bit_sliced": _best(lambda: network.netlist.evaluate(sliced), 3)}
    return {name: {"seconds": round(t, 3), "frames_per_second": round(frames / t)} for name, t in times.items()}


def _measured(build_dir: Path) -> dict:
    report = json.loads((build_dir / "report.json").read_text())
    totals = report["totals"]
    fmax = totals["fmax_mhz"]["value"]["achieved"]
    lut4 = totals["post_pnr_utilization"]["lut4"]["value"]["used"]
    cycles = totals["cycles_per_frame"]["value"]
    core = totals.get("core_cycles_per_frame", totals["cycles_per_frame"])["value"]
    return {"fmax_mhz": fmax, "lut4": lut4, "cycles_per_frame": cycles, "core_cycles_per_frame": core,
            "frames_per_second": round(fmax * 1e6 / cycles), "core_frames_per_second": round(fmax * 1e6 / core),
            "frames_per_second_per_lut4": round(fmax * 1e6 / cycles / lut4, 1),
            "core_frames_per_second_per_lut4": round(fmax * 1e6 / core / lut4, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "examples/fmnist_logic/net.pt")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--build-dir", type=Path, help="a bnn-hw build of --model")
    parser.add_argument("--mlp-build-dir", type=Path, help="a bnn-hw build of examples/fmnist_mlp/net.pt")
    args = parser.parse_args(argv)
    results = {"speed_one_core": speed(args.model, args.frames), "frames": args.frames}
    print(f"{args.frames} frames, one core")
    for name, r in results["speed_one_core"].items():
        print(f"  {name:<26}{r['frames_per_second']:>14,} frames/s  ({r['seconds']} s)")
    if args.build_dir and args.mlp_build_dir:
        results["logic"], results["mlp"] = _measured(args.build_dir), _measured(args.mlp_build_dir)
        print(f"\n{'measured (nextpnr)':<22}{'Fmax MHz':>9}{'LUT4':>8}{'cycles':>8}{'frames/s':>14}"
              f"{'per LUT4':>10}{'core frames/s':>15}{'per LUT4':>10}")
        for name in ("logic", "mlp"):
            r = results[name]
            print(f"{name:<22}{r['fmax_mhz']:>9.1f}{r['lut4']:>8}{r['cycles_per_frame']:>8}{r['frames_per_second']:>14,}"
                  f"{r['frames_per_second_per_lut4']:>10}{r['core_frames_per_second']:>15,}"
                  f"{r['core_frames_per_second_per_lut4']:>10}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
