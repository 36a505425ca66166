"""Move flip-flops that register an ECP5 block RAM's read data into the block RAM's own output register.

An ECP5 block RAM (DP16KD) without its output register has 5.8 ns clock-to-output on speed grade
6; with it (``REGMODE="OUTREG"``), under 1 ns, for one more cycle of read latency. yosys's ECP5
memory mapping never sets it (it always writes ``NOREG``), so the pipeline registers every word
read from a block RAM in the fabric, and on the shipped networks the route from a block RAM to that
register was the clock's critical path.

This pass runs on yosys's JSON netlist, between synthesis and place and route. For each port of a
DP16KD whose read data go, bit for bit, to nothing but the data input of one flip-flop each, all
those flip-flops clocked by the port's read clock on its rising edge, sharing one clock enable, with
no set/reset and an initial value of 0 (the block RAM's output register has the same), it turns the
output register on, drives it with that clock enable and lets the block RAM's outputs drive the
flip-flops' nets; the flip-flops go. The design computes the same values, cycle for cycle: the
output register loads the read latch when the clock enable is high, as the flip-flops did.

The generated hardware makes such registers reset-less (a data register after a memory needs no
reset; its valid flag has one), so the pass finds them. A block RAM in 36-bit pseudo-dual-port
mode (``DATA_WIDTH_A`` 36, as nextpnr-ecp5 reads it) reads all 36 bits through port B's clock
(nextpnr's timing model): its outputs form one group, and both output registers are turned on.

A build runs it through :mod:`bnn_hw.boards.ecp5_netlist_pass`, with the multipliers' pass.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

__all__ = ["OutregSummary", "absorb_output_registers", "top_module", "net_sinks", "plain_flip_flop",
           "CONSTANTS"]

CONSTANTS = ("0", "1", "x", "z")


@dataclass
class OutregSummary:
    """What :func:`absorb_output_registers` did to a netlist."""

    ports: int = 0                 #: block RAM read ports seen (groups of outputs)
    registered: int = 0            #: ports whose output register was turned on
    flip_flops: int = 0            #: flip-flops absorbed into them
    #: the ports left alone (block RAM cell, yosys's hierarchical name, and side), and why
    skipped_ports: dict = field(default_factory=dict)

    @property
    def skipped(self) -> Counter:
        """Why the other ports were left alone: reason -> count."""
        return Counter(self.skipped_ports.values())

    def as_dict(self) -> dict:
        """Plain data for JSON."""
        return {"ports": self.ports, "registered": self.registered, "flip_flops": self.flip_flops,
                "skipped": dict(self.skipped), "skipped_ports": dict(self.skipped_ports)}

    def __str__(self):
        why = ", ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        return (f"{self.registered} of {self.ports} block RAM read ports registered in the block RAM "
                f"({self.flip_flops} flip-flops absorbed)" + (f"; left: {why}" if why else ""))


def top_module(netlist: dict) -> dict:
    """The top module of a yosys JSON netlist."""
    for module in netlist["modules"].values():
        if int(module.get("attributes", {}).get("top", "0") or "0", 2):
            return module
    raise ValueError("the netlist has no top module (no module with the 'top' attribute)")


def _width(value) -> int:
    """A yosys JSON parameter as an integer (binary string, or an int in older writers)."""
    return value if isinstance(value, int) else int(str(value).strip() or "0", 2)


def net_sinks(module: dict) -> dict:
    """Net bit -> list of (cell name, port) that read it; module outputs count as ('', port name)."""
    sinks = defaultdict(list)
    for name, cell in module["cells"].items():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if directions.get(port, "input") != "output":
                for bit in bits:
                    if bit not in CONSTANTS:
                        sinks[bit].append((name, port))
    for port, info in module.get("ports", {}).items():
        if info["direction"] != "input":
            for bit in info["bits"]:
                if bit not in CONSTANTS:
                    sinks[bit].append(("", port))
    return sinks


def plain_flip_flop(ff: dict, clock) -> tuple[object, str | None]:
    """``(clock enable, None)`` for a flip-flop that a hard block's register can replace: clocked by
    ``clock`` on its rising edge, no set/reset, initialised to 0, not kept; the enable is a net bit
    or ``"1"``. Otherwise ``(None, why not)``."""
    p, c = ff["parameters"], ff["connections"]
    if c["CLK"][0] != clock or p.get("CLKMUX", "CLK").strip() != "CLK":
        return None, "flip-flop on another clock"
    if c.get("LSR", ["0"])[0] != "0" or p.get("LSRMUX", "LSR").strip() != "LSR":
        return None, "flip-flop with set/reset"
    if p.get("REGSET", "RESET").strip() != "RESET" or ff.get("attributes", {}).get("keep"):
        return None, "flip-flop initialised to 1 or kept"
    cemux = p.get("CEMUX", "CE").strip()
    if cemux == "1":
        return "1", None
    if cemux == "CE":
        return c["CE"][0], None
    return None, "flip-flop with an inverted clock enable"


def _read_groups(ram: dict) -> list[tuple[str, list[str]]]:
    """The block RAM's read ports: (side that clocks the reads, its data output pins)."""
    a = [f"DOA{i}" for i in range(18)]
    b = [f"DOB{i}" for i in range(18)]
    if _width(ram["parameters"].get("DATA_WIDTH_A", 18)) == 36:   # pseudo dual port: all reads on B
        return [("B", a + b)]
    return [("A", a), ("B", b)]


def _plan_group(module: dict, sinks: dict, ram: dict, side: str, pins: list[str]):
    """The flip-flops (pin -> cell name) and clock enable to absorb for one read port, or a reason
    why not."""
    conns, params = ram["connections"], ram["parameters"]
    used = {pin: conns[pin][0] for pin in pins if pin in conns and conns[pin][0] not in CONSTANTS
            and sinks.get(conns[pin][0])}
    if not used:
        return None, "unused"
    clock = conns.get(f"CLK{side}", ["0"])[0]
    if params.get(f"REGMODE_{side}", "NOREG").strip() != "NOREG":
        return None, "output register already on"
    if clock in CONSTANTS or params.get(f"CLK{side}MUX", f"CLK{side}").strip() != f"CLK{side}":
        return None, "no rising-edge read clock"
    if conns.get(f"RST{side}", ["0"])[0] != "0":
        return None, "read port has a reset"
    flops, enables = {}, set()
    for pin, bit in used.items():
        readers = sinks[bit]
        if len(readers) != 1 or readers[0][1] != "DI" or module["cells"].get(readers[0][0], {}).get("type") != "TRELLIS_FF":
            return None, "data not only into flip-flops"
        name = readers[0][0]
        enable, reason = plain_flip_flop(module["cells"][name], clock)
        if reason:
            return None, reason
        enables.add(enable)
        flops[pin] = name
    if len(enables) != 1:
        return None, "flip-flops with different clock enables"
    return (flops, enables.pop()), None


def absorb_output_registers(netlist: dict) -> OutregSummary:
    """Turn on the output register of every DP16KD read port of ``netlist``'s top module (yosys
    JSON, changed in place) whose data go straight into flip-flops that the register can replace;
    see the module docstring for the conditions."""
    module = top_module(netlist)
    sinks = net_sinks(module)
    summary = OutregSummary()
    for name, ram in [(n, c) for n, c in module["cells"].items() if c["type"] == "DP16KD"]:
        groups = _read_groups(ram)
        for side, pins in groups:
            plan, reason = _plan_group(module, sinks, ram, side, pins)
            if reason == "unused":
                continue
            summary.ports += 1
            if plan is None:
                summary.skipped_ports[f"{name} ({side})"] = reason
                continue
            flops, enable = plan
            for pin, flop in flops.items():
                ram["connections"][pin] = module["cells"].pop(flop)["connections"]["Q"]
            sides = "AB" if len(groups) == 1 else side
            for s in sides:
                ram["parameters"][f"REGMODE_{s}"] = "OUTREG"
                ram["connections"][f"OCE{s}"] = [enable]
            summary.registered += 1
            summary.flip_flops += len(flops)
    return summary
