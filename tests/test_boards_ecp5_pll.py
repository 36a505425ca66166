"""The ECP5 PLL settings: within the device's limits, never above the request."""

import pytest

from bnn_hw.boards.ecp5_pll import pll_config
from bnn_hw.errors import BnnHwError


@pytest.mark.parametrize("want, got", [(100, 100.0), (125, 125.0), (73, 71.875), (200, 200.0)])
def test_settings_for_the_25_mhz_oscillator(want, got):
    c = pll_config(25, want)
    assert c.f_out_mhz == pytest.approx(got)
    assert c.f_out_mhz <= want
    assert 400 <= c.vco_mhz <= 800
    assert 3.125 <= 25 / c.clki_div <= 400


def test_ecppll_agrees_for_100_mhz():
    # Project Trellis' ecppll gives CLKI_DIV 1, CLKFB_DIV 4, CLKOP_DIV 6 for 25 -> 100 MHz.
    c = pll_config(25, 100)
    assert (c.clki_div, c.clkfb_div, c.clkop_div) == (1, 4, 6)


def test_impossible_frequency_is_a_clear_error():
    with pytest.raises(BnnHwError, match="--clock"):
        pll_config(25, 1.0)
