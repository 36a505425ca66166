"""Constructor argument checks shared by the hardware components."""

from __future__ import annotations


def require_positive_ints(types: tuple[type, ...] = (int,), **values) -> None:
    """Raise ``ValueError`` naming the first of ``values`` that is not a positive integer of ``types``
    (``bool`` never counts as an integer here)."""
    for name, value in values.items():
        if not isinstance(value, types) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
