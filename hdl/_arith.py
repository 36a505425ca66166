"""Constant multiplication as shifts and adds.

yosys maps a ``$mul`` by a constant onto the ECP5's MULT18X18D blocks, one per product: an unrolled
layer's per-channel products ran out of the 156 blocks of the 85F. Written as shifts and adds of
the non-adjacent form's digits (a digit in three is non-zero on average), the product is a short sum
in carry chains instead, with no multiplier inferred.
"""

from __future__ import annotations

from amaranth.hdl import Const, Value

__all__ = ["times_constant"]


def _naf(k: int) -> list[tuple[int, int]]:
    """The non-adjacent form of ``k >= 0``: ``(shift, +1 or -1)`` for each non-zero digit."""
    digits, shift = [], 0
    while k:
        if k & 1:
            digit = 2 - (k & 3)     # +1 if k % 4 == 1, -1 if k % 4 == 3
            digits.append((shift, digit))
            k -= digit
        k >>= 1
        shift += 1
    return digits


def times_constant(value, k: int) -> Value:
    """``value * k`` for an integer constant ``k``, as a sum of shifted ``value`` (no multiplier)."""
    value = Value.cast(value)
    if k == 0:
        return Const(0, 1)
    terms = [(value << shift, digit) for shift, digit in _naf(abs(k))]
    total = None
    for term, digit in terms:
        if total is None:
            total = term if digit > 0 else -term
        else:
            total = total + term if digit > 0 else total - term
    return -total if k < 0 else total
