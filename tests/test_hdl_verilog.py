import re

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Shape

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


def _ports(text: str, module: str) -> dict[str, tuple[str, int]]:
    """The ports of ``module`` in the Verilog ``text``: name -> (direction, width)."""
    body = re.search(rf"^module {module}\(.*?^endmodule", text, re.M | re.S)
    assert body, f"no module {module}"
    ports = {}
    for direction, msb, name in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", body[0], re.M):
        ports[name] = (direction, int(msb or 0) + 1)
    return ports


@pytest.mark.parametrize("name", NAMES)
def test_converts_to_verilog_with_the_component_s_stream_ports(name):
    """The Verilog module has exactly the component's ports: clock, reset, and each stream's payload
    (as wide as its signature), valid and ready in the right directions."""
    dut = _components()[name]()
    text = verilog.convert(dut, name=f"top_{name}")
    i_width, o_width = (Shape.cast(dut.signature.members[port].signature.members["payload"].shape).width
                        for port in ("i", "o"))
    assert _ports(text, f"top_{name}") == {
        "clk": ("input", 1), "rst": ("input", 1),
        "i__payload": ("input", i_width), "i__valid": ("input", 1), "i__ready": ("output", 1),
        "o__payload": ("output", o_width), "o__valid": ("output", 1), "o__ready": ("input", 1),
    }


def test_the_chain_s_ports_are_its_first_and_last_stage_s():
    chain = _components()["chain"]()
    ports = _ports(verilog.convert(chain, name="top_chain"), "top_chain")
    assert ports["i__payload"] == ("input", 8) and ports["o__payload"] == ("output", 4 + 10 * 6)
