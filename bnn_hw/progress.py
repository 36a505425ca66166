"""Progress bars on long steps (training epochs, simulation, place and route), on a terminal only.

Every bar is tqdm's, written to stderr, and drawn only when stderr is a terminal: elsewhere (CI logs,
captured test output, a pipe) :func:`bar` gives tqdm's disabled bar, which writes nothing, and the
callers' own line-by-line output is all there is. Bars are transient by default (``leave=False``):
a finished one is wiped, so what stays on the terminal is the same lines as off it.
"""

from __future__ import annotations

import sys
import threading

from tqdm import tqdm

__all__ = ["TICK_S", "bar", "on_terminal"]

#: How often a ticking bar (``bar(tick=True)``) redraws its elapsed time while nothing updates it.
TICK_S = 0.5


def on_terminal(file=None) -> bool:
    """Whether ``file`` (default: ``sys.stderr`` as it is now) is a terminal."""
    file = sys.stderr if file is None else file
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())


class _Ticking(tqdm):
    """A bar redrawn every :data:`TICK_S` from a thread of its own, so its elapsed time counts up
    while the caller waits on something that reports nothing (a tool, a simulator)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop = threading.Event()
        self._ticker = None
        if not self.disable:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self):
        while not self._stop.wait(TICK_S):
            self.refresh()

    def close(self):
        if getattr(self, "_ticker", None) is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None
        super().close()


def bar(iterable=None, *, total: int | None = None, desc: str | None = None, tick: bool = False,
        enabled: bool = True, file=None, leave: bool = False, **options) -> tqdm:
    """A tqdm bar (over ``iterable``, or updated by hand) on ``file`` (default ``sys.stderr``), or a
    disabled one that writes nothing when that is not a terminal or ``enabled`` is false. ``tick``
    redraws it every :data:`TICK_S` (for a step with no updates of its own: give it a ``bar_format``
    with ``{elapsed}``); ``options`` go to tqdm."""
    file = sys.stderr if file is None else file
    return (_Ticking if tick else tqdm)(iterable, total=total, desc=desc, file=file, leave=leave,
                                        dynamic_ncols=True, disable=not (enabled and on_terminal(file)), **options)
