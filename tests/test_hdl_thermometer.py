import random

import numpy as np
import pytest

from bnn_hw.hdl import ThermometerEncoder
from stream_testing import assert_rejects, elaborated, pack_lanes, stream_through


def ref_words(image, thresholds, lanes):
    """Expected output words: bit p*K + j of word w is pixel[w*lanes + p] >= thresholds[j]."""
    words = []
    for w in range(-(-len(image) // lanes)):
        bits = []
        for p in range(lanes):
            n = w * lanes + p
            bits.extend(int(n < len(image) and image[n] >= t) for t in thresholds)
        words.append(pack_lanes(bits, 1))
    return words


def input_words(images, lanes, seed=0):
    garbage = random.Random(seed)
    words = []
    for image in images:
        padded = list(image) + [garbage.randrange(256)
                                for _ in range(-len(image) % lanes)]
        words += [pack_lanes(padded[k:k + lanes], 8) for k in range(0, len(padded), lanes)]
    return words


@pytest.mark.parametrize("features,thresholds,lanes", [
    (10, (1, 128, 255), 3), (16, (128,), 4), (7, (32, 64, 96, 160), 1), (5, (10, 200), 8),
    (1, (255,), 1), (12, tuple(range(1, 256, 32)), 6),
])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_thermometer(features, thresholds, lanes, stall):
    rng = np.random.default_rng(features)
    specials = [0, 255, *thresholds, *(t - 1 for t in thresholds)]
    images = [rng.choice(specials, size=features) for _ in range(3)]
    images += [rng.integers(0, 256, size=features) for _ in range(3)]
    dut = ThermometerEncoder(features, thresholds, lanes)
    expected = [w for image in images for w in ref_words(image, thresholds, lanes)]
    got = stream_through(dut, input_words(images, lanes), len(expected), stall=stall, seed=1)
    assert got == expected


def test_thermometer_ports_and_repr():
    dut = elaborated(ThermometerEncoder(10, [64, 128], 3))
    assert repr(dut) == "ThermometerEncoder(features=10, thresholds=(64, 128), lanes=3)"
    assert dut.o.payload.shape().width == 6
    assert dut.i.payload.shape().length == 3
    assert dut.words == 4
    assert_rejects(ThermometerEncoder, 0, [1], 1, match="features")
    assert_rejects(ThermometerEncoder, 4, [1], 0, match="lanes")
    assert_rejects(ThermometerEncoder, 4, [], 1, match="empty")
    assert_rejects(ThermometerEncoder, 4, [0, 5], 1, match="1..255")
    assert_rejects(ThermometerEncoder, 4, [5, 256], 1, match="1..255")
    assert_rejects(ThermometerEncoder, 4, [5, 5], 1, match="increasing")
    assert_rejects(ThermometerEncoder, 4, [5.5], 1, match="integers")
