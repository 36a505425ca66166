"""Thresholds on an unrolled sparse channel's value, rewritten as comparisons of its own count.

A channel ``m`` of an unrolled sparse layer has the value ``L = a * p0 + d * p1[m]``: ``p0`` the count of
all ``N`` inputs (shared by every channel), ``p1[m]`` the count of its own mask positions. Comparing
``L`` with a threshold directly costs every channel the product ``d * p1`` (two or three adders) and
an adder fed by the shared term, which then drives every channel of the layer: on the example's
256-channel layer that was most of its 30,462 LUT4 and a 780-to-1,411-load net that held the clock
at 92 MHz.

Dividing by ``d`` instead moves the arithmetic to the shared side. With ``d > 0`` (a negative ``d``
is the complement of the comparison with ``a``, ``d`` negated and ``T`` as ``1 - T``) and
``Y = B - a * p0 >= 0`` for a constant ``B``::

    L >= T  <=>  d * p1 >= T - B + Y  <=>  p1 >= ceil((T - B + Y) / d)

Write ``T - B = d * t + r`` and ``Y = d * y + s`` with ``0 <= r, s < d``; then
``ceil((T - B + Y) / d) = t + y + [r + s >= 1] + [r + s >= d + 1]``. So the layer divides ``Y`` once
(a table of ``y`` and ``s`` for each ``p0``), forms one quotient ``z_r = y + [s >= 1 - r] + [s >= d + 1 - r]``
per distinct remainder ``r`` among its thresholds, and each threshold is the comparison
``p1 - z_r >= t`` of two short counts. Every step is integer arithmetic: the rewritten comparison
equals the original for every ``p0`` and ``p1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["QuotientThresholds", "quotient_thresholds"]


@dataclass(frozen=True)
class QuotientThresholds:
    """Thresholds on ``a * p0 + d * p1`` as ``(p1 - z[r] >= t) != negate``; see the module docstring."""

    divisor: int              #: ``|d|``
    coefficient: int          #: ``a``, after the sign change that makes ``d`` positive
    base: int                 #: ``B``: ``Y = B - coefficient * p0`` is never negative
    negate: bool              #: every comparison complemented (``d`` was negative)
    offsets: np.ndarray       #: ``t``, shape (M, K)
    remainders: np.ndarray    #: ``r``, shape (M, K), each in ``0 .. divisor - 1``
    n_inputs: int             #: ``N``: ``p0`` is ``0 .. N``

    def division(self, p0) -> tuple[np.ndarray, np.ndarray]:
        """``y`` and ``s`` of ``Y = B - a * p0 = d * y + s`` (the layer's division table)."""
        return np.divmod(self.base - self.coefficient * np.asarray(p0, np.int64), self.divisor)

    @property
    def table(self) -> list[tuple[int, int]]:
        """``(y, s)`` for every ``p0`` from 0 to ``N``."""
        y, s = self.division(np.arange(self.n_inputs + 1))
        return list(zip(y.tolist(), s.tolist()))

    @property
    def constant_shared(self) -> bool:
        """``a == 0``: the quotients do not depend on ``p0`` (a pruned layer)."""
        return self.coefficient == 0

    @property
    def distinct_remainders(self) -> list[int]:
        """The remainders the thresholds use: one quotient each."""
        return sorted(set(self.remainders.ravel().tolist()))

    def quotient(self, r, y, s):
        """``z_r = ceil((r + Y) / d)`` from ``Y``'s quotient ``y`` and remainder ``s``: integers or
        arrays (the reference), or hardware values with ``r`` an int. A term that cannot vary
        (``r >= 1`` makes ``s >= 1 - r`` true; ``r <= 1`` makes ``s >= d + 1 - r`` false) is left as
        its constant."""
        if isinstance(r, (int, np.integer)):
            r = int(r)
            return (y + (1 if r >= 1 else (s >= 1))
                    + ((s >= self.divisor + 1 - r) if r >= 2 else 0))
        return y + (s >= 1 - r) + (s >= self.divisor + 1 - r)

    def decide(self, p0, p1) -> np.ndarray:
        """The comparisons' results, shape (..., M, K), for counts ``p0`` (...) and ``p1`` (..., M):
        the reference the hardware is built from."""
        y, s = self.division(p0)
        z = self.quotient(self.remainders, np.asarray(y)[..., None, None], np.asarray(s)[..., None, None])
        return ((np.asarray(p1)[..., None] - z) >= self.offsets) != self.negate


def quotient_thresholds(a: int, d: int, thresholds, n_inputs: int) -> QuotientThresholds:
    """The rewriting of ``a * p0 + d * p1 >= thresholds[m, j]`` (``d != 0``, ``0 <= p0 <= n_inputs``)."""
    if d == 0:
        raise ValueError("the count's coefficient d must not be 0")
    thresholds = np.asarray(thresholds, np.int64)
    negate = d < 0
    if negate:   # L >= T  <=>  not (-L >= 1 - T)
        a, d, thresholds = -a, -d, 1 - thresholds
    base = max(0, a * n_inputs)
    offsets, remainders = np.divmod(thresholds - base, d)
    return QuotientThresholds(d, a, base, negate, offsets, remainders, n_inputs)
