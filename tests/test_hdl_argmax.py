import random

import numpy as np
import pytest

from bnn_hw.hdl import ArgMaxHead
from stream_testing import assert_rejects, elaborated, pack_lanes, stream_through, unpack_lanes


def simulate(dut, scores, stall, seed=0):
    classes, lanes, sw = dut.classes, dut.lanes, dut.score_width
    inputs = []
    garbage = random.Random(seed)
    for vec in scores:
        padded = list(vec) + [garbage.randrange(-2**(sw - 1), 2**(sw - 1))
                              for _ in range(dut.words * lanes - classes)]
        inputs += [pack_lanes(padded[k:k + lanes], sw) for k in range(0, len(padded), lanes)]
    got = stream_through(dut, inputs, len(scores), stall=stall, seed=seed)
    iw = dut.index_width
    return [(w & ((1 << iw) - 1), unpack_lanes(w >> iw, sw, classes, signed=True)) for w in got]


@pytest.mark.parametrize("classes,lanes,sw", [
    (10, 3, 8), (10, 10, 6), (10, 1, 5), (1, 1, 4), (1, 4, 4), (7, 4, 3), (16, 4, 9), (2, 5, 1),
    (10, 10, 12), (12, 6, 7), (3, 2, 5),   # wide words cut into single scores
])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_argmax(classes, lanes, sw, stall):
    rng = np.random.default_rng(classes * 31 + lanes)
    lo, hi = -2**(sw - 1), 2**(sw - 1)
    vectors = [rng.integers(lo, hi, size=classes) for _ in range(6)]
    # ties: a small range forces many ties; also all-equal and max at both ends
    vectors.append(rng.integers(lo, lo + 2, size=classes))
    vectors.append(np.full(classes, hi - 1))
    vectors.append(np.full(classes, lo))
    v = np.full(classes, lo); v[-1] = hi - 1; vectors.append(v)
    v = np.full(classes, hi - 1); v[0] = lo; vectors.append(v)
    if classes > 2:
        v = np.zeros(classes, dtype=int); v[1] = v[-1] = 3 if sw > 3 else 1; vectors.append(v)
    dut = ArgMaxHead(classes, lanes, sw)
    got = simulate(dut, vectors, stall)
    for (index, scores), vec in zip(got, vectors):
        assert scores == list(vec)
        assert index == int(np.argmax(vec))      # first maximum, like torch.argmax


def test_argmax_ports_and_repr():
    dut = elaborated(ArgMaxHead(10, 3, 8))
    assert repr(dut) == "ArgMaxHead(classes=10, lanes=3, score_width=8)"
    layout = dut.o.payload.shape()
    assert layout["index"].shape.width == 4
    assert layout["scores"].shape.length == 10
    assert dut.i.payload.shape().length == 3
    assert elaborated(ArgMaxHead(1, 2, 4)).index_width == 1
    assert_rejects(ArgMaxHead, 0, 3, 8, match="classes")
    assert_rejects(ArgMaxHead, 3, 0, 8, match="lanes")
    assert_rejects(ArgMaxHead, 3, 2, 0, match="score_width")
