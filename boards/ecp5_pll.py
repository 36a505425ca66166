"""The ECP5 PLL (EHXPLLL): a core clock derived from the board oscillator.

:func:`pll_config` searches the divider settings the way Project Trellis' ``ecppll`` does (same
device limits and attributes): ``f_out = f_in * CLKFB_DIV / CLKI_DIV``, with the phase-frequency
detector at ``f_in / CLKI_DIV`` in 3.125..400 MHz and the VCO at ``f_out * CLKOP_DIV`` in 400..800 MHz.
It picks the highest frequency that does not exceed the request, so the request is a bound the
timing constraint can trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import AsyncFFSynchronizer

from ..errors import BnnHwError

__all__ = ["PllConfig", "pll_config", "ECP5PLL"]

_PFD_MHZ = (3.125, 400.0)
_VCO_MHZ = (400.0, 800.0)


@dataclass(frozen=True)
class PllConfig:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in_mhz: float

    @property
    def f_out_mhz(self) -> float:
        return self.f_in_mhz * self.clkfb_div / self.clki_div

    @property
    def vco_mhz(self) -> float:
        return self.f_out_mhz * self.clkop_div

    def __str__(self):
        return f"CLKI_DIV {self.clki_div}, CLKFB_DIV {self.clkfb_div}, CLKOP_DIV {self.clkop_div}"


def pll_config(f_in_mhz: float, f_out_mhz: float) -> PllConfig:
    """The divider settings giving the highest output frequency ``<= f_out_mhz``."""
    best = None
    for clki_div in range(1, 129):
        pfd = f_in_mhz / clki_div
        if not _PFD_MHZ[0] <= pfd <= _PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            f = pfd * clkfb_div
            if f > f_out_mhz + 1e-9:
                break
            # Of the output dividers that keep the VCO in range, take the one nearest mid-range.
            dividers = [d for d in range(1, 129) if _VCO_MHZ[0] <= f * d <= _VCO_MHZ[1]]
            if dividers and (best is None or f > best.f_out_mhz + 1e-9):
                clkop_div = min(dividers, key=lambda d: abs(f * d - sum(_VCO_MHZ) / 2))
                best = PllConfig(clki_div, clkfb_div, clkop_div, f_in_mhz)
    if best is None or best.f_out_mhz < 0.9 * f_out_mhz:
        raise BnnHwError(f"the ECP5 PLL cannot make {f_out_mhz} MHz from {f_in_mhz} MHz "
                         f"(VCO {_VCO_MHZ[0]:.0f}-{_VCO_MHZ[1]:.0f} MHz); choose another --clock")
    return best


class ECP5PLL(Elaboratable):
    """Drive the clock of ``domain`` (a ClockDomain its parent defines) from ``clk_in`` through an
    EHXPLLL, holding the domain in reset until the PLL locks.

    The reset goes to its thousands of flip-flops over a global (primary clock) line through a DCCA
    buffer, as the clock does: nextpnr promotes only clocks to globals by itself, and on the
    fabric's general routing a net of that fan-out congested the router (the BoolNet-style example,
    7,651 reset loads, routed or not depending on the placement seed)."""

    def __init__(self, clk_in, config: PllConfig, domain: ClockDomain):
        self.clk_in, self.config, self.domain = clk_in, config, domain

    def elaborate(self, platform):
        m = Module()
        c, cd = self.config, self.domain
        locked = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{c.f_in_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{c.f_out_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=c.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=c.clkop_div,
            p_CLKOP_CPHASE=c.clkop_div // 2 - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=c.clkfb_div,
            i_RST=0, i_STDBY=0, i_CLKI=self.clk_in, o_CLKOP=cd.clk, i_CLKFB=cd.clk,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked,
        )
        reset = Signal()
        m.submodules.reset_sync = AsyncFFSynchronizer(~locked, reset, o_domain=cd.name)
        m.submodules.reset_buffer = Instance("DCCA", i_CLKI=reset, i_CE=1, o_CLKO=cd.rst)
        # No explicit constraint: nextpnr-ecp5 derives the output's from the input's (25 MHz).
        return m
