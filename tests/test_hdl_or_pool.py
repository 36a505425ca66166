"""OrPool: bit-exact OR pooling against the compiler's MaxPool reference, under stalls."""

import numpy as np
import pytest

from bnn_hw.compiler.ops import MaxPool
from bnn_hw.hdl import OrPool
from stream_testing import assert_rejects, pack_bits, stream_through


@pytest.mark.parametrize("h, w, c, k", [(4, 4, 3, 2), (5, 7, 2, 2), (9, 6, 1, 3), (6, 6, 5, 3), (2, 3, 4, 2)])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_pool_matches_reference(h, w, c, k, stall):
    images = np.random.default_rng(h * 10 + w).integers(0, 2, (3, h, w, c)).astype(np.uint8)
    dut = OrPool(h, w, c, k)
    inputs = [pack_bits(px, c)[0] for px in images.reshape(-1, c)]
    pooled = MaxPool(k).reference(images)
    expected = [pack_bits(px, c)[0] for px in pooled.reshape(-1, c)]
    assert stream_through(dut, inputs, len(expected), stall=stall, seed=k) == expected


def test_arguments():
    assert_rejects(OrPool, 4, 4, 1, 1, match="kernel")
    assert_rejects(OrPool, 2, 4, 1, 3, match="kernel")
