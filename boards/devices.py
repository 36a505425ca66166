"""FPGA devices and their resources (``shared/DESIGN.md`` section 6)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Device", "DEVICES"]


@dataclass(frozen=True)
class Device:
    name: str
    lut4: int
    ff: int
    ebr: int          #: 18-kbit block RAMs
    mult18: int

    def capacity(self) -> dict[str, int]:
        """The resources the fit check compares estimates against."""
        return {"lut4": self.lut4, "ff": self.ff, "ebr": self.ebr}


DEVICES = {d.name: d for d in (
    Device("LFE5U-85F", 83_640, 83_640, 208, 156),
    Device("LFE5U-45F", 43_848, 43_848, 108, 72),
    Device("LFE5U-25F", 24_288, 24_288, 56, 28),
    # The 12F is the 25F die; Lattice's budget for it is 12,000 LUTs and 32 EBR (datasheet).
    Device("LFE5U-12F", 12_000, 12_000, 32, 28),
)}
