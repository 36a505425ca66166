"""Constant multiplication as shifts and adds.

yosys maps a ``$mul`` by a constant onto the ECP5's MULT18X18D blocks, one per product: an unrolled
layer's per-channel products ran out of the 156 blocks of the 85F. Written as shifts and adds of
the non-adjacent form's digits (a digit in three is non-zero on average), the product is a short sum
in carry chains instead, with no multiplier inferred.
"""

from __future__ import annotations

from amaranth.hdl import Const, Value

from ..compiler.microarch import naf

__all__ = ["times_constant"]


def times_constant(value, k: int) -> Value:
    """``value * k`` for an integer constant ``k``, as a sum of shifted ``value`` (no multiplier)."""
    value = Value.cast(value)
    if k == 0:
        return Const(0, 1)
    terms = [(value << shift, digit) for shift, digit in naf(abs(k))]
    total = None
    for term, digit in terms:
        if total is None:
            total = term if digit > 0 else -term
        else:
            total = total + term if digit > 0 else total - term
    return -total if k < 0 else total
