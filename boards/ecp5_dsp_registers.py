"""Move the flip-flops around an ECP5 multiplier (MULT18X18D) into the multiplier's own registers.

yosys maps a product to a MULT18X18D with its input and output registers off (``REG_*_CLK =
"NONE"``), and the flip-flops that the pipeline puts before and after every multiplier stay in the
fabric. The DSP blocks sit in rows of their own, so nextpnr places those flip-flops beside the logic
that feeds or reads them, and the path from an operand register through the multiplier to the
product register crossed the chip twice: 12.7 to 13.4 ns on the BNext example's first convolution
(4.45 ns of it the multiplier). With the MULT18X18D's registers on, the route into the block, the
multiplication and the route out are three paths.

This pass runs on yosys's JSON netlist, between synthesis and place and route, after
:mod:`bnn_hw.boards.ecp5_outreg`. For each MULT18X18D:

- **inputs**: when every non-constant A and B pin is driven by a flip-flop that a hard register can
  replace (:func:`~bnn_hw.boards.ecp5_outreg.plain_flip_flop`: one rising clock, no set/reset,
  initial value 0), all on one clock, the block's input registers take those flip-flops' data
  inputs and their clock enables; a flip-flop that nothing else reads goes. Both or neither: with
  one input registered, nextpnr times the block as unregistered.
- **output**: when every product bit that is read goes to nothing but the data input of one such
  flip-flop each, on the same clock as the inputs' (if those were taken), the output register
  replaces them and the product pins drive their nets.

The design computes the same values, cycle for cycle: each register loads what the flip-flop it
replaces loaded, under the same clock enable (a block has four, CE0-CE3: one for each of A, B and
the product is enough).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .ecp5_outreg import CONSTANTS, net_sinks, plain_flip_flop, top_module

__all__ = ["DspRegisterSummary", "absorb_dsp_registers"]


@dataclass
class DspRegisterSummary:
    """What :func:`absorb_dsp_registers` did to a netlist."""

    multipliers: int = 0           #: MULT18X18D blocks seen
    inputs: int = 0                #: blocks whose input registers were turned on
    outputs: int = 0               #: blocks whose output register was turned on
    flip_flops: int = 0            #: flip-flops removed (absorbed, and read by nothing else)
    #: the blocks' registers left off (cell and "inputs"/"output"), and why
    skipped: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain data for JSON."""
        return {"multipliers": self.multipliers, "inputs": self.inputs, "outputs": self.outputs,
                "flip_flops": self.flip_flops, "skipped": dict(Counter(self.skipped.values())),
                "skipped_registers": dict(self.skipped)}

    def __str__(self):
        why = ", ".join(f"{n} {reason}" for reason, n in Counter(self.skipped.values()).most_common())
        return (f"{self.inputs} of {self.multipliers} multipliers with input registers, {self.outputs} with "
                f"output registers ({self.flip_flops} flip-flops removed)" + (f"; left: {why}" if why else ""))


def _drivers(module: dict) -> dict:
    """Net bit -> (cell name, port) of the cell output that drives it."""
    drivers = {}
    for name, cell in module["cells"].items():
        for port, direction in cell.get("port_directions", {}).items():
            if direction == "output":
                for bit in cell["connections"].get(port, []):
                    if bit not in CONSTANTS:
                        drivers[bit] = (name, port)
    return drivers


def _pins(cell: dict, prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count) if f"{prefix}{i}" in cell["connections"]]


def _plan_inputs(module, drivers, dsp):
    """``({pin: data net}, clock, {"A": enable, "B": enable})`` for the A and B pins, or
    ``(None, why not)``."""
    conns, cells = dsp["connections"], module["cells"]
    data, clocks, enables = {}, set(), {"A": set(), "B": set()}
    for pin in _pins(dsp, "A", 18) + _pins(dsp, "B", 18):
        bit = conns[pin][0]
        if bit in CONSTANTS:
            continue
        name, port = drivers.get(bit, (None, None))
        if port != "Q" or cells.get(name, {}).get("type") != "TRELLIS_FF":   # (or moved into a block)
            return None, "an operand not from a flip-flop"
        ff = cells[name]
        clock = ff["connections"]["CLK"][0]
        enable, reason = plain_flip_flop(ff, clock)
        if reason:
            return None, reason
        data[pin] = ff["connections"]["DI"][0]
        clocks.add(clock)
        enables[pin[0]].add(enable)
    if not enables["A"] or not enables["B"]:
        return None, "a constant operand"
    if len(clocks) != 1:
        return None, "operands on different clocks"
    if any(len(e) != 1 for e in enables.values()):
        return None, "operand registers with different clock enables"
    return (data, clocks.pop(), {side: e.pop() for side, e in enables.items()}), None


def _plan_output(module, sinks, dsp, clock):
    """``({pin: flip-flop}, clock, enable)`` for the product pins, or ``(None, why not)``."""
    conns, cells = dsp["connections"], module["cells"]
    flops, clocks, enables = {}, set(), set()
    for pin in _pins(dsp, "P", 36):
        bit = conns[pin][0]
        if bit in CONSTANTS or not sinks.get(bit):
            continue
        readers = sinks[bit]
        if len(readers) != 1 or readers[0][1] != "DI" or cells.get(readers[0][0], {}).get("type") != "TRELLIS_FF":
            return None, "product not only into flip-flops"
        ff = cells[readers[0][0]]
        ff_clock = ff["connections"]["CLK"][0]
        enable, reason = plain_flip_flop(ff, ff_clock)
        if reason:
            return None, reason
        flops[pin] = readers[0][0]
        clocks.add(ff_clock)
        enables.add(enable)
    if not flops:
        return None, "product unused"
    if len(clocks) != 1 or (clock is not None and clocks != {clock}):
        return None, "product registers on another clock"
    if len(enables) != 1:
        return None, "product registers with different clock enables"
    return (flops, clocks.pop(), enables.pop()), None


def _connect_input(dsp: dict, pin: str, bit) -> None:
    """Connect input ``pin`` of ``dsp`` (yosys leaves the clock, enable and reset pins out)."""
    dsp["connections"][pin] = [bit]
    dsp.setdefault("port_directions", {})[pin] = "input"


def _enable_pin(dsp: dict, taken: list, enable) -> str:
    """The CEk pin of ``dsp`` carrying ``enable``: the one already given it (``taken``: the enables
    given CE0, CE1, ... so far), or the next, connected now. A block's registers need at most three
    (A's, B's and the product's) of its four."""
    if enable not in taken:
        _connect_input(dsp, f"CE{len(taken)}", enable)
        taken.append(enable)
    return f"CE{taken.index(enable)}"


def absorb_dsp_registers(netlist: dict) -> DspRegisterSummary:
    """Turn on the input and output registers of every MULT18X18D of ``netlist``'s top module (yosys
    JSON, changed in place) where flip-flops around it can be moved in; see the module docstring."""
    module = top_module(netlist)
    cells = module["cells"]
    drivers, sinks = _drivers(module), net_sinks(module)
    summary = DspRegisterSummary()
    bypassed = set()    # flip-flops whose readers may all have moved to a block's input register
    for name, dsp in [(n, c) for n, c in cells.items() if c["type"] == "MULT18X18D"]:
        summary.multipliers += 1
        inputs, reason = _plan_inputs(module, drivers, dsp)
        if inputs is None:
            summary.skipped[f"{name} (inputs)"] = reason
        output, out_reason = _plan_output(module, sinks, dsp, inputs[1] if inputs else None)
        if output is None:
            summary.skipped[f"{name} (output)"] = out_reason
        params, conns = dsp["parameters"], dsp["connections"]
        clock = inputs[1] if inputs else output[1] if output else None
        taken = []
        if clock is not None:
            _connect_input(dsp, "CLK0", clock)
            _connect_input(dsp, "RST0", "0")
        if inputs is not None:
            data, _, enables = inputs
            for pin, d in data.items():
                bypassed.add(drivers[conns[pin][0]][0])
                conns[pin] = [d]
            for side, enable in enables.items():
                params.update({f"REG_INPUT{side}_CLK": "CLK0", f"REG_INPUT{side}_CE": _enable_pin(dsp, taken, enable),
                               f"REG_INPUT{side}_RST": "RST0"})
            summary.inputs += 1
        if output is not None:
            flops, _, enable = output
            for p, flop in flops.items():
                conns[p] = cells.pop(flop)["connections"]["Q"]
            params.update(REG_OUTPUT_CLK="CLK0", REG_OUTPUT_CE=_enable_pin(dsp, taken, enable), REG_OUTPUT_RST="RST0")
            summary.outputs += 1
            summary.flip_flops += len(flops)
    read = net_sinks(module)
    for flop in bypassed:
        if flop in cells and not read.get(cells[flop]["connections"]["Q"][0]):
            del cells[flop]
            summary.flip_flops += 1
    return summary
