"""OrPool and SumPool: bit-exact window pooling against PyTorch and the compiler's MaxPool
reference, under stalls."""

import numpy as np
import pytest
import torch

from bnn_hw.compiler.ops import MaxPool
from bnn_hw.hdl import OrPool, SumPool
from stream_testing import assert_rejects, pack_bits, pack_lanes, stream_through, unpack_lanes


@pytest.mark.parametrize("h, w, c, k", [(4, 4, 3, 2), (5, 7, 2, 2), (9, 6, 1, 3), (6, 6, 5, 3), (2, 3, 4, 2)])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_or_pool_matches_reference(h, w, c, k, stall):
    images = np.random.default_rng(h * 10 + w).integers(0, 2, (3, h, w, c)).astype(np.uint8)
    dut = OrPool(h, w, c, k)
    inputs = [pack_bits(px, c)[0] for px in images.reshape(-1, c)]
    pooled = MaxPool(k).reference(images)
    expected = [pack_bits(px, c)[0] for px in pooled.reshape(-1, c)]
    assert stream_through(dut, inputs, len(expected), stall=stall, seed=k) == expected


@pytest.mark.parametrize("h, w, c, lanes, k", [(4, 4, 3, 1, 2), (5, 7, 4, 2, 2), (6, 5, 5, 2, 2), (6, 6, 2, 2, 3),
                                               (2, 3, 1, 1, 2)])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_sum_pool_is_average_pooling_on_a_finer_grid(h, w, c, lanes, k, stall):
    """Values k / 2**f average-pooled by PyTorch are the pooled sums / 2**f / kernel**2; the
    extremes of the 6-bit range are among them, so a narrow sum would overflow."""
    rng = np.random.default_rng(h * 10 + w + c)
    images = rng.integers(-32, 32, (3, h, w, c))
    images[0, :k, :k, :] = -32
    images[1, :k, :k, :] = 31
    dut = SumPool(h, w, c, k, lanes, 6)
    words = -(-c // lanes)
    padded = np.zeros((3, h, w, words * lanes), np.int64)
    padded[..., :c] = images
    inputs = [pack_lanes(word, 6) for word in padded.reshape(-1, lanes)]
    mean = torch.nn.functional.avg_pool2d(torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2), k)
    expected = (mean * k * k).permute(0, 2, 3, 1).numpy().astype(np.int64)
    got = stream_through(dut, inputs, expected.size // c * words, stall=stall, seed=k)
    sums = np.array([unpack_lanes(word, dut.out_width, lanes, signed=True) for word in got])
    assert (sums.reshape(*expected.shape[:3], -1)[..., :c] == expected).all()
    assert dut.out_width == 6 + (k * k - 1).bit_length()


def test_arguments():
    assert_rejects(OrPool, 4, 4, 1, 1, match="kernel")
    assert_rejects(OrPool, 2, 4, 1, 3, match="kernel")
    assert_rejects(SumPool, 4, 4, 2, 2, 0, 6, match="lanes")
    assert_rejects(SumPool, 4, 4, 2, 5, 1, 6, match="kernel")
