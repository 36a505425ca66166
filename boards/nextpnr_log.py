"""Where a running nextpnr is, read from its log as it grows.

Place and route is the one build step that can take an hour (a large unrolled network: minutes of
annealing, then router passes that each take a minute). nextpnr runs with ``--quiet`` and writes its
progress only to its log (``{name}.tim``), so the build follows that file and turns the lines that
mark progress into short phrases: the analytical placer's iterations, annealing, and each router's
progress (router1's arcs still to route, router2's passes and overused wires).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import NamedTuple

__all__ = ["NextpnrLog", "Phase", "PhaseReporter", "phase"]


class Phase(NamedTuple):
    """Where nextpnr is: the kind of step (``"placement"``, ``"annealing"``, ``"routing"``) and a
    phrase with its progress."""

    kind: str
    text: str


_PHASES = (
    (re.compile(r"at iteration #(\d+), type ALL"), "placement", lambda m: f"analytical placement, iteration {m[1]}"),
    (re.compile(r"Running simulated annealing placer"), "annealing", lambda m: "annealing placement"),
    (re.compile(r"Routing (\d+) arcs\."), "routing", lambda m: f"routing {int(m[1]):,} arcs"),
    (re.compile(r"^Info:\s+\d+ \|.*\|\s+(\d+)\|"), "routing", lambda m: f"routing, {int(m[1]):,} arcs left"),
    (re.compile(r"Running router2"), "routing", lambda m: "routing (router2)"),
    (re.compile(r"iter=(\d+) wires=\d+ overused=(\d+)"), "routing",
     lambda m: f"routing pass {m[1]}, {int(m[2]):,} wires overused"),
    (re.compile(r"Routing complete"), "timing", lambda m: "routed; timing analysis"),
)


def phase(line: str) -> Phase | None:
    """The phase that one line of nextpnr's log marks (``Phase("routing", "routing pass 12, 1,357
    wires overused")``), or None for a line that marks none."""
    for pattern, kind, say in _PHASES:
        match = pattern.search(line)
        if match:
            return Phase(kind, say(match))
    return None


class NextpnrLog:
    """Follow nextpnr's log at ``path`` from a thread while the tool runs: each phase a new line marks
    (:func:`phase`) goes to ``on_phase``. Use as a context manager around the run; the file may not
    exist yet when it starts."""

    def __init__(self, path: str | Path, on_phase, poll_s: float = 1.0):
        self.path, self.on_phase, self.poll_s = Path(path), on_phase, poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._offset = 0
        self._partial = ""

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._read()   # the lines written since the last poll
        return False

    def _follow(self):
        while not self._stop.wait(self.poll_s):
            self._read()

    def _read(self):
        try:
            with open(self.path, encoding="utf-8", errors="replace") as log:
                log.seek(self._offset)
                text = log.read()
                self._offset = log.tell()
        except FileNotFoundError:
            return
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            said = phase(line)
            if said:
                self.on_phase(said)


class PhaseReporter:
    """What the build prints of nextpnr's phases off a terminal: a line when the kind of phase changes
    (:attr:`Phase.kind`), and within one kind at most one a ``every_s`` seconds, so a CI
    log of an hour's routing gets a line a minute, not one per router pass."""

    def __init__(self, say, every_s: float = 60.0, clock=time.monotonic):
        self.say, self.every_s, self.clock = say, every_s, clock
        self._kind, self._last = None, None

    def __call__(self, step: Phase) -> None:
        now = self.clock()
        if step.kind != self._kind or now - self._last >= self.every_s:
            self._kind, self._last = step.kind, now
            self.say(step.text)
