"""Ops that stream a bit value one vector per word: an image's pixel, else the whole value."""

from __future__ import annotations

from ..ir import TensorType

__all__ = ["vector_bits", "vectors", "WholeVectors"]


def vector_bits(value_type: TensorType) -> int:
    """Bits of one vector of a bit value in a stream: one pixel of an image, else the whole value."""
    return value_type.shape[-1] if len(value_type.shape) == 3 else value_type.bits


def vectors(value_type: TensorType) -> int:
    """Vectors of a bit value per frame: an image's pixels, else 1."""
    return value_type.shape[0] * value_type.shape[1] if len(value_type.shape) == 3 else 1


class WholeVectors:
    """Stream methods of an op that takes and gives one whole vector per word, one per cycle."""

    def vectors_per_frame(self, in_type) -> int:
        return vectors(in_type)

    def in_vector_bits(self, in_type) -> int:
        return vector_bits(in_type)

    def out_vector_bits(self, out_type) -> int:
        return vector_bits(out_type)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        return vector_bits(in_type), vector_bits(in_type)
