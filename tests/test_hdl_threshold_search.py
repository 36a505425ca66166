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
