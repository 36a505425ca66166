"""What bnn-hw needs to know about a board: its amaranth platform, device and clock."""

from __future__ import annotations

from dataclasses import dataclass

from .devices import DEVICES, Device

__all__ = ["Board"]


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
