import numpy as np
import pytest
from amaranth.hdl import unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from bnn_hw.hdl import ArgMaxHead, Chain, MatrixVectorUnit, Repack, ThermometerEncoder
from stream_testing import assert_rejects, elaborated, pack_lanes, stream_through, unpack_lanes


def ref_network(image, thresholds, W1, T1, W2):
    """Thermometer -> binary FC + thresholds -> binary FC scores -> argmax, in NumPy."""
    x0 = np.array([[int(px >= t) for t in thresholds] for px in image], dtype=np.uint8).reshape(-1)

    def popcount(W, x):
        return np.bitwise_count(np.packbits((1 - (W ^ x)).astype(np.uint8), axis=1)).sum(axis=1)

    p1 = popcount(W1, x0)
    x1 = (p1[:, None] >= T1).astype(np.uint8).reshape(-1)
    scores = 2 * popcount(W2, x1).astype(np.int64) - W2.shape[1]
    return int(np.argmax(scores)), list(scores)


def build(features=10, lanes=3, thresholds=(64, 128, 192), hidden=7, k1=2, classes=5,
          simd1=8, pe1=3, simd2=5, pe2=2, seed=0):
    rng = np.random.default_rng(seed)
    K = len(thresholds)
    N1 = features * K
    W1 = rng.integers(0, 2, size=(hidden, N1)).astype(np.uint8)
    T1 = np.sort(rng.integers(N1 // 2 - 4, N1 // 2 + 4, size=(hidden, k1)), axis=1)
    N2 = hidden * k1
    W2 = rng.integers(0, 2, size=(classes, N2)).astype(np.uint8)
    mvu1 = MatrixVectorUnit(W1, T1, pe1, simd1)
    mvu2 = MatrixVectorUnit(W2, None, pe2, simd2)
    stages = [
        ThermometerEncoder(features, thresholds, lanes),
        Repack(N1, lanes * K, simd1),
        mvu1,
        Repack(N2, pe1 * k1, simd2),
        mvu2,
        ArgMaxHead(classes, pe2, mvu2.score_width),
    ]
    return Chain(stages), (thresholds, W1, T1, W2)


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_chain_network(stall):
    dut, (thresholds, W1, T1, W2) = build()
    features, lanes = 10, 3
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, size=features) for _ in range(4)]
    inputs = []
    for image in images:
        padded = list(image) + [0] * (-features % lanes)
        inputs += [pack_lanes(padded[k:k + lanes], 8) for k in range(0, len(padded), lanes)]
    got = stream_through(dut, inputs, len(images), stall=stall, seed=3)
    argmax = dut.stages["stage5"]
    for word, image in zip(got, images):
        index = word & ((1 << argmax.index_width) - 1)
        scores = unpack_lanes(word >> argmax.index_width, argmax.score_width, argmax.classes,
                              signed=True)
        assert (index, scores) == ref_network(image, thresholds, W1, T1, W2)


class _Passthrough(wiring.Component):
    def __init__(self, width):
        self.width = width
        super().__init__({"i": In(stream.Signature(unsigned(width))),
                          "o": Out(stream.Signature(unsigned(width)))})

    def elaborate(self, platform):
        from amaranth.hdl import Module
        m = Module()
        wiring.connect(m, wiring.flipped(self.i), wiring.flipped(self.o))
        return m

    def __repr__(self):
        return f"_Passthrough({self.width})"


def test_chain_named_single_and_errors():
    a = Repack(12, 4, 3)
    dut = elaborated(Chain({"narrow": a}))
    assert dut.signature.members["i"] == a.signature.members["i"]
    assert dut.signature.members["o"] == a.signature.members["o"]
    assert repr(dut) == "Chain(narrow=Repack(vector_bits=12, in_width=4, out_width=3))"
    assert list(dut.stages) == ["narrow"]

    dut = Chain({"first": Repack(12, 4, 6), "second": Repack(12, 6, 12)})
    words = [0x5a3 & 0xf, (0x5a3 >> 4) & 0xf, 0x5a3 >> 8]
    got = stream_through(dut, words * 3, 3, stall=0.3, seed=0)
    assert got == [0x5a3] * 3

    assert_rejects(Chain, [], match="at least one")
    assert_rejects(Chain, 5, match="list or dict")
    assert_rejects(lambda: Chain([_Passthrough(4), _Passthrough(5)]), match="does not match")
    assert_rejects(Chain, ["not a component"], match="wiring.Component")
    assert_rejects(lambda: Chain({"bad name": _Passthrough(4)}), match="identifier")
