"""Integer arithmetic shared by every layer of bnn-hw (it imports nothing).

Word counts, block counts and byte counts are ceiling divisions of integers; :func:`ceil_div` is the
one way they are written, exact for integers of any size (``math.ceil(a / b)`` goes through a float
and rounds wrongly past 2**53). :func:`signed_width` is the width of a two's complement range, which
the compiler's types and the hardware's registers agree on.
"""

from __future__ import annotations

__all__ = ["ceil_div", "signed_width"]


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` of integers, exactly: the words of ``b`` values that hold ``a`` values
    (``ceil_div(10, 4) == 3``, ``ceil_div(8, 4) == 2``, ``ceil_div(0, 4) == 0``)."""
    return -(-a // b)


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest two's complement type holding ``lo..hi`` (at least 1)."""
    return max((-int(lo) - 1).bit_length() if lo < 0 else 0, int(hi).bit_length() if hi > 0 else 0) + 1
