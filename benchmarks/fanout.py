"""The nets with the most loads in a build's synthesised netlist.

    python benchmarks/fanout.py BUILD_DIR [--top N]

Reads ``bnn_hw.json`` (yosys's netlist, which ``bnn-hw build`` leaves in its output folder) and
prints the ``N`` nets that drive the most cell inputs, with the type of cell driving each. A net
of thousands of loads on the fabric's general routing (not a clock, which nextpnr puts on a global
line) is what kept nextpnr's router1 from finishing the BoolNet-style network: its reset, 7,651
flip-flops, before the reset was given a global line of its own.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def fanout(netlist: dict, top: int) -> list[tuple[int, str, str]]:
    """``(loads, net name, driver cell type)`` of the ``top`` nets with the most loads."""
    module = next(m for m in netlist["modules"].values() if m["attributes"].get("top"))
    loads, drivers = Counter(), {}
    for cell in module["cells"].values():
        for port, bits in cell["connections"].items():
            for bit in bits:
                if isinstance(bit, int):       # constants are strings
                    if cell["port_directions"].get(port) == "input":
                        loads[bit] += 1
                    else:
                        drivers[bit] = cell["type"]
    names: dict[int, str] = {}
    for name, net in module["netnames"].items():
        for bit in net["bits"]:
            if isinstance(bit, int) and len(name) < len(names.get(bit, name + " ")):
                names[bit] = name                # the shortest of a bit's names
    return [(n, names.get(bit, str(bit)), drivers.get(bit, "?")) for bit, n in loads.most_common(top)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("build_dir", type=Path, help="a bnn-hw build's output folder")
    p.add_argument("--top", type=int, default=10, help="nets to show (default 10)")
    args = p.parse_args(argv)
    netlist = json.loads((args.build_dir / "bnn_hw.json").read_text())
    print(f"{'loads':>7}  {'driver':<12}net")
    for n, name, driver in fanout(netlist, args.top):
        print(f"{n:>7}  {driver:<12}{name}")


if __name__ == "__main__":
    main()
