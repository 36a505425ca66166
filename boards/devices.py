"""FPGA devices and their resources (``docs/boards.md``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..compiler.cost import BlockRam
from .family import ECP5, ICE40, Family

__all__ = ["Device", "DEVICES"]


@dataclass(frozen=True)
class Device:
    """A chip: its family and the resources the fit check and the report compare against."""

    name: str
    family: Family
    lut4: int
    ff: int
    ebr: int          #: block RAMs of the family's primitive (18-kbit DP16KD, 4-kbit SB_RAM40_4K)
    dsp: int          #: multipliers: MULT18X18D (ECP5), SB_MAC16 (iCE40)
    spram: int = 0    #: 256-kbit single-port RAMs (iCE40 UltraPlus); bnn-hw does not use them

    @property
    def block_ram(self) -> BlockRam:
        """The block-RAM primitive :attr:`ebr` counts."""
        return self.family.block_ram

    @property
    def block_ram_kbits(self) -> int:
        """All block RAM on the chip, in kbit."""
        return self.ebr * self.block_ram.kbits

    def capacity(self) -> dict[str, int]:
        """The resources the fit check compares estimates against (``ebr`` in :attr:`block_ram` blocks)."""
        return {"lut4": self.lut4, "ff": self.ff, "ebr": self.ebr, "dsp": self.dsp}


DEVICES = {d.name: d for d in (
    Device("LFE5U-85F", ECP5, 83_640, 83_640, 208, 156),
    Device("LFE5U-45F", ECP5, 43_848, 43_848, 108, 72),
    Device("LFE5U-25F", ECP5, 24_288, 24_288, 56, 28),
    # The 12F is the 25F die; Lattice's budget for it is 12,000 LUTs and 32 EBR (datasheet).
    Device("LFE5U-12F", ECP5, 12_000, 12_000, 32, 28),
    # Every logic cell is a LUT4 and a flip-flop. The 4 SPRAMs (1 Mbit; nextpnr reports 4) cannot be
    # initialised, so they cannot hold weights; the fit check counts the 30 EBR (120 kbit) only.
    Device("iCE40UP5K", ICE40, 5_280, 5_280, 30, 8, spram=4),
)}
