import random

import numpy as np
import pytest

from bnn_hw.hdl import Repack
from bnn_hw.compiler.microarch import repack_mode
from stream_testing import assert_rejects, elaborated, pack_bits, stream_through, unpack_bits


def _words(vectors, width, garbage_rng=None):
    """Pack vectors into words; optionally fill the padding of each last word with garbage."""
    V = vectors.shape[1]
    out = []
    for vec in vectors:
        words = pack_bits(vec, width)
        if garbage_rng is not None and V % width:
            pad = width - V % width
            words[-1] |= garbage_rng.getrandbits(pad) << (V % width)
        out.extend(words)
    return out


@pytest.mark.parametrize("V,iw,ow", [
    (37, 8, 8), (37, 5, 8), (37, 8, 5), (100, 7, 3), (100, 3, 7), (16, 4, 16), (16, 16, 4),
    (1, 1, 1), (5, 1, 8), (5, 8, 1), (9, 9, 2), (13, 32, 6),
    # whole words: serialised (104 -> 8, 37 -> 16 -> 4) and assembled (37 -> 4 -> 16, 100 -> 4 -> 64;
    # 40 -> 8 -> 32 completes a full and a one-word output word back to back)
    (104, 104, 8), (37, 16, 4), (37, 4, 16), (100, 4, 64), (32, 8, 32), (6, 2, 4), (40, 8, 32),
    # wide output words, assembled in slots: a whole vector, several words, a short last input word
    (800, 100, 800), (1600, 100, 800), (580, 10, 580),
])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_repack(V, iw, ow, stall):
    nvec = 6
    rng = np.random.default_rng(V * 1000 + iw * 10 + ow)
    vectors = rng.integers(0, 2, size=(nvec, V))
    dut = Repack(V, iw, ow)
    inputs = _words(vectors, iw, garbage_rng=random.Random(5))
    expected = _words(vectors, ow)
    got = stream_through(dut, inputs, len(expected), stall=stall, seed=2)
    assert got == expected
    OW = -(-V // ow)
    for k in range(nvec):
        assert unpack_bits(got[k * OW:(k + 1) * OW], ow, V) == list(vectors[k])


@pytest.mark.parametrize("V,iw,ow", [(37, 5, 8), (37, 8, 5), (64, 8, 8), (100, 7, 3),
                                     (104, 104, 8), (37, 16, 4), (37, 4, 16), (64, 8, 32), (6, 2, 4),
                                     (800, 100, 800), (1280, 10, 640)])
def test_repack_throughput(V, iw, ow):
    nvec = 8
    vectors = np.random.default_rng(0).integers(0, 2, size=(nvec, V))
    dut = Repack(V, iw, ow)
    inputs = _words(vectors, iw)
    expected = _words(vectors, ow)
    stamps = []

    assert stream_through(dut, inputs, len(expected), stamps=stamps) == expected
    per_vector = max(-(-V // iw), -(-V // ow))
    # steady state: the last vectors take about max(in words, out words) cycles each
    OW = -(-V // ow)
    span = stamps[-1] - stamps[2 * OW - 1]
    assert span <= (nvec - 2) * (per_vector + 1)


def test_repack_args():
    assert_rejects(Repack, 0, 8, 8, match="vector_bits")
    assert_rejects(Repack, 8, 0, 8, match="in_width")
    assert_rejects(Repack, 8, 8, 1.5, match="out_width")
    dut = elaborated(Repack(37, 5, 8))
    assert repr(dut) == "Repack(vector_bits=37, in_width=5, out_width=8)"
    assert (dut.in_words, dut.out_words) == (8, 5)


@pytest.mark.parametrize("iv, iw, ov, ow", [(5, 4, 15, 8), (15, 8, 5, 4), (6, 6, 36, 7), (36, 7, 6, 6),
                                             # every word full: assembled as one continuous stream
                                             (8, 1, 32, 32), (12, 4, 48, 16)])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_repack_between_vector_sizes(iv, iw, ov, ow, stall):
    """Pixels to a whole image and back: the concatenated bits are cut into the other vectors."""
    bits = np.random.default_rng(iv + ov).integers(0, 2, size=(4 * max(iv, ov) // min(iv, ov) * min(iv, ov)))
    bits = bits[:len(bits) // max(iv, ov) * max(iv, ov)]
    dut = Repack(iv, iw, ow, out_vector_bits=ov)
    assert repack_mode(iv, iw, ow, ov) == ("deserialize" if iv % iw == 0 and ov % ow == 0 and ow % iw == 0
                                           else "shift")
    inputs = _words(bits.reshape(-1, iv), iw, garbage_rng=random.Random(3))
    expected = _words(bits.reshape(-1, ov), ow)
    assert stream_through(dut, inputs, len(expected), stall=stall, seed=4) == expected
