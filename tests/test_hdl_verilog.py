import numpy as np
import pytest
from amaranth.back import verilog

from bnn_hw.hdl import ArgMaxHead, Chain, MatrixVectorUnit, Repack, ThermometerEncoder


def _components():
    rng = np.random.default_rng(0)
    W1 = rng.integers(0, 2, size=(11, 37))
    T1 = np.sort(rng.integers(-3, 40, size=(11, 2)), axis=1)
    W2 = rng.integers(0, 2, size=(10, 22))
    score_width = (22).bit_length() + 1      # MatrixVectorUnit.score_width for N = 22
    return {
        "repack": lambda: Repack(37, 5, 8),
        "thermometer": lambda: ThermometerEncoder(10, [64, 128, 192], 3),
        "mvu": lambda: MatrixVectorUnit(W1, T1, 4, 8),
        "mvu_scores": lambda: MatrixVectorUnit(W2, None, 3, 7),
        "argmax": lambda: ArgMaxHead(10, 3, 6),
        "chain": lambda: Chain([MatrixVectorUnit(W1, T1, 4, 8), Repack(22, 8, 7),
                                MatrixVectorUnit(W2, None, 3, 7),
                                ArgMaxHead(10, 3, score_width)]),
    }


NAMES = ["repack", "thermometer", "mvu", "mvu_scores", "argmax", "chain"]


def test_names_cover_components():
    assert sorted(NAMES) == sorted(_components())


@pytest.mark.parametrize("name", NAMES)
def test_converts_to_verilog(name):
    dut = _components()[name]()
    text = verilog.convert(dut, name=f"top_{name}")
    assert f"module top_{name}" in text
