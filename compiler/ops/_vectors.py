"""Ops that stream a bit value one vector per word: an image's pixel, else the whole value."""

from __future__ import annotations

from ..ir import Kind, TensorType
from .base import LANE_CHOICES, Fold, FoldRule, StreamOp, ceil_div

__all__ = ["vector_bits", "vectors", "VectorStream", "WholeVectors", "LaneStream", "joined_bits"]


def vector_bits(value_type: TensorType) -> int:
    """Bits of one vector of a value in a stream: one pixel of an image, else the whole value."""
    return value_type.shape[-1] * value_type.width if len(value_type.shape) == 3 else value_type.bits


def vectors(value_type: TensorType) -> int:
    """Vectors of a bit value per frame: an image's pixels, else 1."""
    return value_type.shape[0] * value_type.shape[1] if len(value_type.shape) == 3 else 1


def joined_bits(inputs, verb: str, same: str, same_shape) -> tuple[TensorType, TensorType]:
    """The ``(body, shortcut)`` types a join takes: two bit values whose shapes ``same_shape(a, b)``
    accepts (else the error says it ``verb`` only values with ``same``)."""
    if len(inputs) != 2:
        raise ValueError(f"{verb} two values, got {len(inputs)}")
    body, shortcut = inputs
    if body.kind is not Kind.BITS or shortcut.kind is not Kind.BITS:
        raise ValueError(f"{verb} bits (a Sign ends the block's body), got {body} and {shortcut}")
    if not same_shape(body.shape, shortcut.shape):
        raise ValueError(f"the block's body gives {body} but its shortcut carries {shortcut}; it {verb} "
                         f"only values with {same}")
    return body, shortcut


class VectorStream(StreamOp, abstract=True):
    """Stream methods of an op that streams one whole vector per word, one per cycle."""

    def vectors_per_frame(self, in_type) -> int:
        return vectors(in_type)

    def in_vector_bits(self, in_type) -> int:
        return vector_bits(in_type)

    def out_vector_bits(self, out_type) -> int:
        return vector_bits(out_type)

    def stream_words(self, value_type, fold) -> tuple[int, int]:
        """``(word, vector)`` bits in which a join takes (and gives) ``value_type``: whole vectors."""
        return vector_bits(value_type), vector_bits(value_type)

    def cycles(self, in_type, fold) -> int:
        """A vector per cycle."""
        return vectors(in_type)


class WholeVectors(VectorStream, abstract=True):
    """A :class:`VectorStream` whose words are its vectors, as wide in as out."""

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        return vector_bits(in_type), vector_bits(in_type)


class LaneStream(VectorStream, abstract=True):
    """A :class:`VectorStream` of multi-bit values that takes a vector's values ``fold.pe`` per word
    (padded in the last), each ``width`` bits: ``ceil(C / pe)`` words per vector of ``C`` values; the
    folding gives it as few lanes as keep within the cycle budget."""

    fold_rule = FoldRule.SEARCHED

    def lanes(self, in_type) -> tuple[int, int]:
        return self.values_per_vector(in_type), 1

    def cheapest_fold(self, in_type, budget: int) -> Fold:
        values = self.values_per_vector(in_type)
        lanes = next((n for n in LANE_CHOICES if self.cycles(in_type, Fold(n, 1)) <= budget), values)
        return Fold(min(lanes, values), 1)

    def values_per_vector(self, value_type) -> int:
        return vector_bits(value_type) // value_type.width

    def stream_words(self, value_type, fold) -> tuple[int, int]:
        """``(word, vector)`` bits in which it takes (and gives) ``value_type``."""
        return fold.pe * value_type.width, vector_bits(value_type)

    def cycles(self, in_type, fold) -> int:
        return vectors(in_type) * ceil_div(self.values_per_vector(in_type), fold.pe)
