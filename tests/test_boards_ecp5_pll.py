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


@pytest.mark.parametrize("core, server", [(150, 100), (133, 100), (200, 100), (180, 48)])
def test_second_output_from_the_same_vco_never_above_its_request(core, server):
    c = pll_config(25, core, server)
    assert c.f_out_mhz == pytest.approx(pll_config(25, core).f_out_mhz)   # the first output as without
    assert c.f_secondary_mhz <= server and c.vco_mhz / (c.clkos_div - 1) > server   # the fastest divider
    assert "CLKOS_DIV" in str(c) and pll_config(25, core).f_secondary_mhz is None


def test_board_splits_the_server_clock_only_above_its_server_clock():
    """The ULX3S's UART server runs at 50 MHz from the PLL's second output whenever the core is
    faster (its default 100 MHz included); at or below 50 MHz, or without the server, one clock."""
    from bnn_hw.boards import get_board
    board = get_board("ulx3s")
    for mhz, core in ((150, 150e6), (None, 100e6)):
        split = board.core_clock(mhz, separate_server=True)
        assert (split.hz, split.server_hz, split.io_hz) == (core, 50e6, 50e6) and "UART server at 50 MHz" in split.source
    odd = board.core_clock(90, separate_server=True)   # the VCO for 90 MHz divides to just under 50
    assert odd.hz == 90e6 and 45e6 < odd.server_hz < 50e6 and odd.io_hz == odd.server_hz
    for clock in (board.core_clock(50, separate_server=True), board.core_clock(150), board.core_clock()):
        assert clock.server_hz is None and clock.io_hz == clock.hz and not clock.pll.clkos_div