"""bnn-hw's pass over an ECP5 netlist, between synthesis and place and route: flip-flops moved into
the hard blocks' own registers, the block RAMs' output registers (:mod:`~bnn_hw.boards.ecp5_outreg`)
and the multipliers' input and output registers (:mod:`~bnn_hw.boards.ecp5_dsp_registers`).

Run as ``python -m bnn_hw.boards.ecp5_netlist_pass NETLIST.json [SUMMARY.json]``: the netlist is
rewritten in place; the summary (``block_ram_output_registers`` and ``dsp_registers``, each what
its pass did and why it left the rest) is written to the second file if given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .ecp5_dsp_registers import absorb_dsp_registers
from .ecp5_outreg import absorb_output_registers

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the netlist file ``argv[0]`` in place; write the summary to ``argv[1]`` if given."""
    argv = sys.argv[1:] if argv is None else argv
    if not 1 <= len(argv) <= 2:
        print("usage: python -m bnn_hw.boards.ecp5_netlist_pass NETLIST.json [SUMMARY.json]", file=sys.stderr)
        return 2
    path = Path(argv[0])
    netlist = json.loads(path.read_text())
    block_ram, dsp = absorb_output_registers(netlist), absorb_dsp_registers(netlist)
    path.write_text(json.dumps(netlist))
    if len(argv) == 2:
        Path(argv[1]).write_text(json.dumps({"block_ram_output_registers": block_ram.as_dict(),
                                             "dsp_registers": dsp.as_dict()}, indent=1))
    print(f"ecp5_netlist_pass: {block_ram}; {dsp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
