"""What bnn-hw needs to know about a board: its amaranth platform, device and clock."""

from __future__ import annotations

from dataclasses import dataclass

from .devices import DEVICES, Device
from .ecp5_pll import PllConfig, pll_config

__all__ = ["Board", "CoreClock"]


@dataclass(frozen=True)
class CoreClock:
    """The clock the pipeline runs at on a board, and where it comes from."""

    hz: float
    pll: PllConfig | None  #: the PLL settings, or None when the oscillator drives the core directly
    source: str


@dataclass(frozen=True)
class Board:
    name: str
    platform: type           #: an amaranth platform class (build-only: needs no programmer)
    device: str              #: key of :data:`bnn_hw.boards.devices.DEVICES`
    clock_hz: float          #: the board oscillator
    leds: int
    core_clock_hz: float | None = None  #: default core clock from the PLL (None: the oscillator)

    @property
    def chip(self) -> Device:
        return DEVICES[self.device]

    def core_clock(self, mhz: float | None = None) -> CoreClock:
        """The core clock for a request of ``mhz`` (default: the board's core clock). The oscillator's
        own frequency means no PLL; anything else is the highest the PLL makes up to ``mhz``."""
        mhz = mhz or (self.core_clock_hz or self.clock_hz) / 1e6
        if mhz == self.clock_hz / 1e6:
            return CoreClock(self.clock_hz, None, "board oscillator, no PLL")
        pll = pll_config(self.clock_hz / 1e6, mhz)
        return CoreClock(pll.f_out_mhz * 1e6, pll,
                         f"ECP5 PLL from the {self.clock_hz / 1e6:g} MHz oscillator (CLKI_DIV "
                         f"{pll.clki_div}, CLKFB_DIV {pll.clkfb_div}, CLKOP_DIV {pll.clkop_div})")
