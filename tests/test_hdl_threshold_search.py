"""ThresholdSearch: the level of every sum equals counting the thresholds it reaches, under stalls."""

import numpy as np
import pytest

from bnn_hw.hdl import ThresholdSearch
from stream_testing import assert_rejects, pack_lanes, stream_through, unpack_lanes


@pytest.mark.parametrize("M, K, lanes", [(5, 63, 1), (6, 7, 2), (3, 1, 1), (4, 10, 3), (2, 64, 2)])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_levels_count_the_thresholds_reached(M, K, lanes, stall):
    """Thresholds with ties, outside the sums' range on both sides, and sums on them."""
    rng = np.random.default_rng(M * 100 + K)
    width = 10
    T = np.sort(rng.integers(-600, 600, (M, K)), axis=1)
    T[0, :K // 2] = T[0, 0]                       # ties
    sums = rng.integers(-512, 512, (8, M))
    sums[0, 0], sums[1, 0], sums[2] = -512, 511, T[np.arange(M), K // 2]
    base = -(K // 2)
    out_width = max(2, (K + 1).bit_length() + 1)
    dut = ThresholdSearch(T, lanes, width, base, out_width)
    words = -(-M // lanes)
    padded = np.zeros((len(sums), words * lanes), np.int64)
    padded[:, :M] = sums
    got = stream_through(dut, [pack_lanes(w, width) for w in padded.reshape(-1, lanes)], len(sums) * words,
                         stall=stall, seed=K)
    levels = np.array([unpack_lanes(word, out_width, lanes, signed=True) for word in got]).reshape(len(sums), -1)
    expected = base + (sums[:, :, None] >= T[None]).sum(axis=2)
    assert (levels[:, :M] == expected).all() and (levels[:, M:] == base).all()
    assert dut.steps == K.bit_length()


def test_arguments():
    T = np.array([[1, 2, 3]])
    assert_rejects(ThresholdSearch, T[:, ::-1], 1, 8, 0, 4, match="ascending")
    assert_rejects(ThresholdSearch, T, 0, 8, 0, 4, match="lanes")
    assert_rejects(ThresholdSearch, T, 1, 8, 6, 4, match="do not fit")
    assert_rejects(ThresholdSearch, np.zeros((2, 0), np.int64), 1, 8, 0, 4, match="non-empty")


@pytest.mark.parametrize("M, width", [(80, 10), (40, 20)])
def test_deep_threshold_roms_are_read_from_registered_banks(M, width):
    """The last steps' ROMs are deeper than a block RAM bank (sliced and banked, their banks
    registered): the levels are those of the shallow ROMs, under stalls."""
    from bnn_hw.hdl.table_rom import table_rom_staged
    rng = np.random.default_rng(M + width)
    K, hi = 63, 1 << (width - 1)
    T = np.sort(rng.integers(-hi, hi, (M, K)), axis=1)
    sums = rng.integers(-hi, hi, (3, M))
    sums[0] = T[:, 31]
    dut = ThresholdSearch(T, 1, width, 0, 7)
    assert table_rom_staged(width + 1, M << (dut.steps - 1)) and not table_rom_staged(width + 1, M)
    got = stream_through(dut, [pack_lanes([s], width) for s in sums.ravel()], sums.size, stall=0.3, seed=M)
    levels = np.array([unpack_lanes(word, 7, 1, signed=True)[0] for word in got]).reshape(sums.shape)
    assert (levels == (sums[:, :, None] >= T[None]).sum(axis=2)).all()
