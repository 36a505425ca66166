"""Population count as a balanced adder tree.

This is the simple, readable reference form of the popcount used by the matrix-vector unit.
A later optimisation may replace it with a compressor tree; the function signature is the contract.
"""

from amaranth.hdl import Const, Value

__all__ = ["popcount"]


def popcount(value):
    """Return an unsigned :class:`~amaranth.hdl.Value` equal to the number of 1 bits in ``value``.

    The bits are summed pairwise in a balanced tree of adders, so the logic depth grows with
    ``log2(len(value))``. The result is exactly wide enough to hold ``len(value)``
    (a zero-width input gives a zero-width constant 0).
    """
    value = Value.cast(value)
    width = len(value)
    if width == 0:
        return Const(0, 0)
    terms = [value[k] for k in range(width)]
    while len(terms) > 1:
        paired = [terms[k] + terms[k + 1] for k in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    # Adders widen by one bit per level; trim to the minimal width that holds `width`.
    return terms[0][:width.bit_length()]
