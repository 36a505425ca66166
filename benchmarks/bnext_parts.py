"""Build a small network holding every BNext part for the ULX3S 85F, and print what place and route measured.

    python benchmarks/bnext_parts.py [--out DIR] [--seed N]

The network is the tests' random Bi-Real-style CNN (``tests/conftest.py``: ``random_bireal``) on an
8x8 image with 8 channels: biases before the signs, PReLUs, three blocks joined by an add, an
Info-Recoupling mix and an ELM product, a squeeze-and-excitation block, and a downsampling block
whose body is two strided convolutions side by side, every block rounded back to its grid. Its
weights are random: the build says how the parts synthesise, place and route, not what a trained
network scores. The model is saved beside the build (``DIR/net.pt``); the build is
``bnn-hw build --board ulx3s DIR/net.pt -o DIR`` (about three minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import bnn_hw
from bnn_hw.cli import main as cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import random_bireal  # noqa: E402  (the tests' random networks)

#: the stages that hold BNext's parts, by op
PARTS = ("Mix", "Product", "GlobalSum", "ChannelProduct", "Concat", "Rescale")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="build folder (default: a new temporary one)")
    p.add_argument("--seed", type=int, default=2, help="seed of the random network (default 2)")
    args = p.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bnn_hw_bnext_parts_"))
    out.mkdir(parents=True, exist_ok=True)
    model = random_bireal((1, 8, 8), seed=args.seed, bias=True, prelu=True, downsample=True,
                          joins=("add", "mix", "product"), blocks=3, concat=True, se=True)
    bnn_hw.save(model, out / "net.pt")
    if cli(["build", "--board", "ulx3s", str(out / "net.pt"), "-o", str(out)]) != 0:
        sys.exit("build failed")
    report = json.loads((out / "report.json").read_text())
    totals = report["totals"]
    used = {k: v["value"] for k, v in totals["post_pnr_utilization"].items()}
    print(f"\nFmax {totals['fmax_mhz']['value']['achieved']} MHz (constraint 100 MHz), timing met: "
          f"{totals['timing_met']['value']}; " + ", ".join(f"{k.upper()} {v['used']}/{v['available']}"
                                                           for k, v in used.items()))
    path = totals["critical_paths"]["value"][0]
    print(f"critical path: {path['delay_ns']} ns ({path['logic_ns']} logic), {path['start']} -> {path['end']}")
    for layer in report["layers"]:
        if layer["op"].split("(")[0] in PARTS:
            print(f"  {layer['name']:<16}{layer['op']:<36}LUT4~ {layer['lut4_est']:>5}  FF~ {layer['ff_est']:>5}")


if __name__ == "__main__":
    main()
