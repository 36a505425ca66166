"""The ECP5 PLL (EHXPLLL): a core clock derived from the board oscillator.

:func:`pll_config` searches the divider settings the way Project Trellis' ``ecppll`` does (same
device limits and attributes): ``f_out = f_in * CLKFB_DIV / CLKI_DIV``, with the phase-frequency
detector at ``f_in / CLKI_DIV`` in 3.125..400 MHz and the VCO at ``f_out * CLKOP_DIV`` in 400..800 MHz.
It picks the highest frequency that does not exceed the request, so the request is a bound the
timing constraint can trust. A second output (CLKOS, ``f_vco / CLKOS_DIV``) can clock a second domain
at up to a given frequency: the UART server stays at the board's usual clock while the pipeline runs
faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from amaranth import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import AsyncFFSynchronizer

from ..errors import BnnHwError

__all__ = ["PllConfig", "pll_config", "ECP5PLL"]

_PFD_MHZ = (3.125, 400.0)
_VCO_MHZ = (400.0, 800.0)
_MAX_DIVIDER = 128


@dataclass(frozen=True)
class PllConfig:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in_mhz: float
    clkos_div: int = 0   #: the second output's divider from the VCO; 0: no second output

    @property
    def f_secondary_mhz(self) -> float | None:
        """The second output's frequency (None without one)."""
        return self.vco_mhz / self.clkos_div if self.clkos_div else None

    @property
    def f_out_mhz(self) -> float:
        return self.f_in_mhz * self.clkfb_div / self.clki_div

    @property
    def vco_mhz(self) -> float:
        return self.f_out_mhz * self.clkop_div

    def __str__(self):
        text = f"CLKI_DIV {self.clki_div}, CLKFB_DIV {self.clkfb_div}, CLKOP_DIV {self.clkop_div}"
        return text + (f", CLKOS_DIV {self.clkos_div}" if self.clkos_div else "")


def pll_config(f_in_mhz: float, f_out_mhz: float, secondary_mhz: float | None = None) -> PllConfig:
    """The divider settings giving the highest output frequency ``<= f_out_mhz``; with
    ``secondary_mhz``, also a second output at the highest frequency ``<= secondary_mhz`` that the
    same VCO divides down to."""
    best = None
    for clki_div in range(1, _MAX_DIVIDER + 1):
        pfd = f_in_mhz / clki_div
        if not _PFD_MHZ[0] <= pfd <= _PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            f = pfd * clkfb_div
            if f > f_out_mhz + 1e-9:
                break
            # Of the output dividers that keep the VCO in range, take the one nearest mid-range.
            dividers = [d for d in range(1, _MAX_DIVIDER + 1) if _VCO_MHZ[0] <= f * d <= _VCO_MHZ[1]]
            if dividers and (best is None or f > best.f_out_mhz + 1e-9):
                clkop_div = min(dividers, key=lambda d: abs(f * d - sum(_VCO_MHZ) / 2))
                best = PllConfig(clki_div, clkfb_div, clkop_div, f_in_mhz)
    if best is None or best.f_out_mhz < 0.9 * f_out_mhz:
        raise BnnHwError(f"the ECP5 PLL cannot make {f_out_mhz} MHz from {f_in_mhz} MHz "
                         f"(VCO {_VCO_MHZ[0]:.0f}-{_VCO_MHZ[1]:.0f} MHz); choose another --clock")
    if secondary_mhz is not None:
        divider = math.ceil(best.vco_mhz / secondary_mhz - 1e-9)
        if divider > _MAX_DIVIDER:
            raise BnnHwError(f"the ECP5 PLL cannot divide its {best.vco_mhz:g} MHz VCO down to {secondary_mhz} MHz")
        best = replace(best, clkos_div=divider)
    return best


class ECP5PLL(Elaboratable):
    """Drive the clock of ``domain`` (a ClockDomain its parent defines) from ``clk_in`` through an
    EHXPLLL, holding the domain in reset until the PLL locks; with ``secondary`` (the config then has
    a ``clkos_div``), that domain's clock from the second output, held in reset the same way.

    The reset goes to its thousands of flip-flops over a global (primary clock) line through a DCCA
    buffer, as the clock does: nextpnr promotes only clocks to globals by itself, and on the
    fabric's general routing a net of that fan-out congested the router (the BoolNet-style example,
    7,651 reset loads, routed or not depending on the placement seed)."""

    def __init__(self, clk_in, config: PllConfig, domain: ClockDomain, secondary: ClockDomain | None = None):
        if (secondary is None) != (not config.clkos_div):
            raise ValueError("a second clock domain needs a PLL config with a second output, and the reverse")
        self.clk_in, self.config, self.domain, self.secondary = clk_in, config, domain, secondary

    def elaborate(self, platform):
        m = Module()
        c, cd = self.config, self.domain
        locked = Signal()
        second = {}
        if self.secondary is not None:   # 0 degrees to CLKOP, as ecppll writes it
            second = dict(p_CLKOS_ENABLE="ENABLED", p_CLKOS_DIV=c.clkos_div, p_CLKOS_CPHASE=c.clkop_div // 2 - 1,
                          p_CLKOS_FPHASE=0, o_CLKOS=self.secondary.clk,
                          a_FREQUENCY_PIN_CLKOS=f"{c.f_secondary_mhz:g}")
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
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked, **second,
        )
        for domain in (cd, self.secondary):
            if domain is not None:
                reset = Signal(name=f"{domain.name}_reset")
                m.submodules[f"{domain.name}_reset_sync"] = AsyncFFSynchronizer(~locked, reset, o_domain=domain.name)
                m.submodules[f"{domain.name}_reset_buffer"] = Instance("DCCA", i_CLKI=reset, i_CE=1, o_CLKO=domain.rst)
        # No explicit constraint: nextpnr-ecp5 derives the output's from the input's (25 MHz).
        return m
