"""The ECP5 netlist pass that moves the flip-flops after a block RAM into its output register: which
read ports it takes, how it rewires them, which it leaves (and says why), on hand-made netlists and
on yosys's own output."""

import json
import subprocess

import pytest
from amaranth import Elaboratable, Module, Signal, unsigned
from amaranth.back import rtlil
from amaranth.lib.memory import Memory

from bnn_hw.boards.ecp5_netlist_pass import main
from bnn_hw.boards.ecp5_outreg import absorb_output_registers
from bnn_hw.boards.toolchain import toolchain_env

CLK, CE, OTHER_CE, RST = 2, 3, 4, 5


def _ff(d, q, ce=CE, clk=CLK, lsr="0", **params):
    conns = {"CLK": [clk], "DI": [d], "LSR": [lsr], "Q": [q]}
    if ce is not None:
        conns["CE"] = [ce]
    return {"type": "TRELLIS_FF", "parameters": {"CEMUX": "CE" if ce is not None else "1 ", "CLKMUX": "CLK",
                                                  "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET"} | params,
            "port_directions": {"CLK": "input", "CE": "input", "DI": "input", "LSR": "input", "Q": "output"},
            "connections": conns}


def _netlist(width_a=9, read_side="A", bits=4, flops=None, extra=None):
    """One DP16KD reading ``bits`` bits on ``read_side`` (both sides' outputs in 36-bit mode), each
    output net 100+i into a flip-flop driving net 200+i (or as ``flops`` says)."""
    pins = ([f"DOA{i}" for i in range(18)] + [f"DOB{i}" for i in range(18)] if width_a == 36
            else [f"DO{read_side}{i}" for i in range(18)])[:bits]
    ram_conns = {f"CLK{s}": ["0"] for s in "AB"} | {f"OCE{s}": ["1"] for s in "AB"} | {f"RST{s}": ["0"] for s in "AB"}
    ram_conns[f"CLK{'B' if width_a == 36 else read_side}"] = [CLK]
    directions = {}
    for i, pin in enumerate(pins):
        ram_conns[pin] = [100 + i]
        directions[pin] = "output"
    cells = {"ram": {"type": "DP16KD", "parameters": {"DATA_WIDTH_A": f"{width_a:032b}", "REGMODE_A": "NOREG",
                                                      "REGMODE_B": "NOREG", "CLKAMUX": "CLKA", "CLKBMUX": "CLKB"},
                     "port_directions": directions, "connections": ram_conns}}
    for i in range(bits):
        cells[f"ff{i}"] = _ff(100 + i, 200 + i, **(flops or {}).get(i, {}))
    cells.update(extra or {})
    ports = {"out": {"direction": "output", "bits": [200 + i for i in range(bits)]}}
    return {"modules": {"top": {"attributes": {"top": "00000000000000000000000000000001"},
                                "ports": ports, "cells": cells}}}


def test_flip_flops_after_a_read_port_become_its_output_register():
    netlist = _netlist(read_side="A")
    summary = absorb_output_registers(netlist)
    cells = netlist["modules"]["top"]["cells"]
    ram = cells["ram"]
    assert set(cells) == {"ram"}   # the flip-flops are gone ...
    assert [ram["connections"][f"DOA{i}"] for i in range(4)] == [[200], [201], [202], [203]]  # ... their nets kept
    assert ram["parameters"]["REGMODE_A"] == "OUTREG" and ram["parameters"]["REGMODE_B"] == "NOREG"
    assert ram["connections"]["OCEA"] == [CE]   # the flip-flops' clock enable
    assert (summary.ports, summary.registered, summary.flip_flops) == (1, 1, 4)
    assert "1 of 1 block RAM read ports" in str(summary)


def test_a_second_run_changes_nothing():
    netlist = _netlist()
    absorb_output_registers(netlist)
    after = json.dumps(netlist, sort_keys=True)
    again = absorb_output_registers(netlist)
    assert json.dumps(netlist, sort_keys=True) == after
    assert again.registered == 0 and again.skipped_ports == {"ram (A)": "output register already on"}


def test_an_always_enabled_register_and_port_b():
    netlist = _netlist(read_side="B", flops={i: {"ce": None} for i in range(4)})
    absorb_output_registers(netlist)
    ram = netlist["modules"]["top"]["cells"]["ram"]
    assert ram["parameters"]["REGMODE_B"] == "OUTREG" and ram["connections"]["OCEB"] == ["1"]


def test_a_36_bit_port_reads_through_b_and_registers_both_halves():
    netlist = _netlist(width_a=36, bits=24)
    summary = absorb_output_registers(netlist)
    ram = netlist["modules"]["top"]["cells"]["ram"]
    assert ram["parameters"]["REGMODE_A"] == ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert ram["connections"]["OCEA"] == ram["connections"]["OCEB"] == [CE]
    assert ram["connections"]["DOB5"] == [223]
    assert (summary.ports, summary.flip_flops) == (1, 24)


@pytest.mark.parametrize("flops, extra, reason", [
    ({1: {"lsr": RST}}, None, "flip-flop with set/reset"),
    ({2: {"ce": OTHER_CE}}, None, "flip-flops with different clock enables"),
    ({3: {"clk": 9}}, None, "flip-flop on another clock"),
    ({0: {"REGSET": "SET"}}, None, "flip-flop initialised to 1 or kept"),
    ({0: {"CEMUX": "INV"}}, None, "flip-flop with an inverted clock enable"),
    (None, {"lut": {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input", "Z": "output"},
                    "connections": {"A": [101], "Z": [300]}}}, "data not only into flip-flops"),
])
def test_what_the_output_register_cannot_replace_is_left_alone(flops, extra, reason):
    netlist = _netlist(flops=flops, extra=extra)
    before = json.dumps(netlist, sort_keys=True)
    summary = absorb_output_registers(netlist)
    assert json.dumps(netlist, sort_keys=True) == before
    assert summary.registered == 0 and dict(summary.skipped) == {reason: 1}
    assert summary.skipped_ports == {"ram (A)": reason} and reason in str(summary)


def test_a_read_port_with_a_reset_is_left_alone():
    netlist = _netlist()
    netlist["modules"]["top"]["cells"]["ram"]["connections"]["RSTA"] = [RST]
    assert dict(absorb_output_registers(netlist).skipped) == {"read port has a reset": 1}


class _Roms(Elaboratable):
    """Two 36-bit ROMs read with an enable: one into a reset-less register, one into a register with
    a reset (which the output register cannot replace)."""

    def __init__(self):
        self.addr, self.en = Signal(9), Signal()
        self.free, self.reset = Signal(36), Signal(36)

    def elaborate(self, platform):
        m = Module()
        for name, out, reset_less in (("free", self.free, True), ("reset", self.reset, False)):
            rom = Memory(shape=unsigned(36), depth=512, init=[(i * 0x9E3779B1 + len(name)) % (1 << 36) for i in range(512)])
            m.submodules[name] = rom
            port = rom.read_port()
            held = Signal(36, reset_less=reset_less, name=f"{name}_held")
            m.d.comb += [port.addr.eq(self.addr), port.en.eq(self.en), out.eq(held)]
            with m.If(self.en):
                m.d.sync += held.eq(port.data)
        return m


def test_on_yosys_synthesis_of_two_roms(tmp_path):
    top = _Roms()
    (tmp_path / "top.il").write_text(rtlil.convert(top, name="top", ports=[top.addr, top.en, top.free, top.reset]))
    yosys = toolchain_env()["YOSYS"]
    subprocess.run([yosys, "-q", "-p", "read_rtlil top.il; synth_ecp5 -top top; write_json top.json"],
                   cwd=tmp_path, check=True)
    before = json.loads((tmp_path / "top.json").read_text())
    flops_before = sum(c["type"] == "TRELLIS_FF" for c in before["modules"]["top"]["cells"].values())
    assert main([str(tmp_path / "top.json"), str(tmp_path / "summary.json")]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["block_ram_output_registers"]
    assert summary == {"ports": 2, "registered": 1, "flip_flops": 36, "skipped": {"flip-flop with set/reset": 1},
                       "skipped_ports": {"reset.0.0 (B)": "flip-flop with set/reset"}}
    cells = json.loads((tmp_path / "top.json").read_text())["modules"]["top"]["cells"]
    assert sum(c["type"] == "TRELLIS_FF" for c in cells.values()) == flops_before - 36
    registered = [c for c in cells.values() if c["type"] == "DP16KD" and c["parameters"]["REGMODE_B"] == "OUTREG"]
    assert len(registered) == 1


def test_usage_error():
    assert main([]) == 2
