"""Following nextpnr's log during a build: the lines that mark progress, the rate at which they are
printed off a terminal, and the phases reaching the build's progress while a stand-in nextpnr runs."""

import pytest

from bnn_hw.boards.build import _run_script
from bnn_hw.boards.family import ECP5
from bnn_hw.boards.nextpnr_log import Phase, PhaseReporter, phase
from bnn_hw.errors import ToolchainError
from conftest import stand_in_tools

#: Lines as nextpnr-ecp5 writes them (HeAP, annealing, router1's table, router2's passes).
LOG = """Info: Running main analytical placer, max placement attempts per cell = 20904578.
Info:     at iteration #1, type ALL: wirelen solved = 1833, spread = 120121, legal = 123977; time = 0.70s
Info: Running simulated annealing placer for refinement.
Info:   at iteration #5: temp = 0.000000, timing cost = 4098, wirelen = 273099
Info: Routing 30544 arcs.
Info:       1000 |      221        778 |  221   778 |     29837|       1.52       1.52|
Info: Running router2...
Info:     iter=12 wires=732233 overused=3533 overuse=3562 archfail=NA
Info: Routing complete.
"""


def test_lines_that_mark_progress():
    assert [phase(line) for line in LOG.splitlines()] == [
        None,
        Phase("placement", "analytical placement, iteration 1"),
        Phase("annealing", "annealing placement"),
        None,
        Phase("routing", "routing 30,544 arcs"),
        Phase("routing", "routing, 29,837 arcs left"),
        Phase("routing", "routing (router2)"),
        Phase("routing", "routing pass 12, 3,533 wires overused"),
        Phase("timing", "routed; timing analysis"),
    ]


def test_off_a_terminal_a_line_per_kind_of_phase_and_then_one_a_minute():
    now, said = [0.0], []
    report = PhaseReporter(said.append, every_s=60, clock=lambda: now[0])
    for t, kind, text in ((0, "placement", "analytical placement, iteration 1"),
                          (5, "placement", "analytical placement, iteration 2"),
                          (9, "annealing", "annealing placement"), (70, "routing", "routing pass 1, 9 wires overused"),
                          (100, "routing", "routing pass 2, 5 wires overused"),
                          (131, "routing", "routing pass 3, 2 wires overused")):
        now[0] = t
        report(Phase(kind, text))
    assert said == ["analytical placement, iteration 1", "annealing placement", "routing pass 1, 9 wires overused",
                    "routing pass 3, 2 wires overused"]


def test_nextpnr_phases_reach_the_builds_progress(tmp_path, stderr):
    """A stand-in nextpnr writes the log above; off a terminal its phases are progress lines under the
    tool's, on one they show in the tool's ticking line instead."""
    (tmp_path / "LOG").write_text(LOG)
    env = stand_in_tools(tmp_path, ECP5, lambda tool: "cat LOG > bnn_hw.tim\n" if tool.name == "nextpnr-ecp5" else "")
    (tmp_path / "build_bnn_hw.sh").write_text("set -e\n" + "\n".join(f'"${t.env_var}"' for t in ECP5.tools)
                                              + "\nexit 7\n")
    messages = []
    with pytest.raises(ToolchainError):
        _run_script(tmp_path, env, ECP5, messages.append)
    phases = [m.split(" (t=")[0].strip() for m in messages if m.startswith("    ")]
    if stderr.param:   # on a terminal
        assert phases == [] and "place and route (nextpnr-ecp5): routed; timing analysis" in stderr.bars()
    else:
        assert phases == ["analytical placement, iteration 1", "annealing placement", "routing 30,544 arcs",
                          "routed; timing analysis"]
