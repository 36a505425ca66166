"""Arithmetic on lanes: multiplication by a constant as shifts and adds, per-channel constants of a
lane, and a word's signed lanes.

yosys maps a ``$mul`` by a constant onto the ECP5's MULT18X18D blocks, one per product: an unrolled
layer's per-channel products ran out of the 156 blocks of the 85F. Written as shifts and adds of
the non-adjacent form's digits (a digit in three is non-zero on average), the product is a short sum
in carry chains instead, with no multiplier inferred.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Const, Value

from ..compiler.microarch import naf
from ..intmath import ceil_div

__all__ = ["times_constant", "lane_constants", "signed_lanes"]


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


def lane_constants(values, lanes: int, word, fill: int = 0) -> list:
    """The constant of the channel each of ``lanes`` lanes holds, for a vector of ``len(values)``
    channels streamed ``lanes`` per word (channel ``w * lanes + l`` in lane ``l`` of word ``w``; lanes
    past the last channel get ``fill``). ``word`` is the current word's index (a signal), or None when
    a vector is one word: then each lane's constant is a plain integer."""
    values = np.asarray(values, np.int64).ravel()
    words = ceil_div(values.size, lanes)
    table = np.full(words * lanes, fill, np.int64)
    table[:values.size] = values
    table = table.reshape(words, lanes)
    if words == 1:
        return [int(v) for v in table[0]]
    if word is None:
        raise ValueError(f"{values.size} constants in {lanes} lanes take {words} words: a word index is needed")
    return [Array(Const(int(v)) for v in table[:, lane])[word] for lane in range(lanes)]


def signed_lanes(word, width: int, lanes: int) -> list[Value]:
    """The ``lanes`` signed ``width``-bit values packed in ``word``, lane 0 in the low bits."""
    word = Value.cast(word)
    return [word[l * width:(l + 1) * width].as_signed() for l in range(lanes)]
