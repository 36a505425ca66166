"""How frames and results are laid out on the pipeline's stream ports (shared by all drivers)."""

from __future__ import annotations

from math import ceil

import numpy as np

from ..compiler.ir import Kind
from ..compiler.plan import Plan
from ..hdl.argmax import index_width

__all__ = ["input_words", "input_word_bits", "decode_result", "index_width"]


def _input_lanes(plan: Plan) -> tuple[int, int]:
    """(elements per input word, bits per element)."""
    first = plan.stages[0]
    width = 8 if plan.input_type.kind is Kind.UINT8 else 1
    # an image stage first (a convolution) takes one pixel's channels per word
    in_vector_bits = getattr(first.op, "in_vector_bits", None)
    return (in_vector_bits(first.in_type) // width if in_vector_bits else first.fold.simd), width


def input_word_bits(plan: Plan) -> int:
    """Bits of one pipeline input word."""
    lanes, width = _input_lanes(plan)
    return lanes * width


def input_words(plan: Plan, frame: np.ndarray) -> list[int]:
    """One frame as the integers to put on the pipeline's input ``payload``, word by word.

    Pixels travel ``simd`` per word, pixel k of a word in bits ``8k..8k+7``; bit vectors travel
    ``simd`` bits per word, LSB first, and bit images one pixel's channels per word. Images are
    channels-last. The last word is zero padded.
    """
    lanes, width = _input_lanes(plan)
    frame = np.asarray(frame).reshape(-1)
    padded = np.zeros(ceil(frame.size / lanes) * lanes, np.int64)
    padded[:frame.size] = frame
    return [sum(int(v) << (k * width) for k, v in enumerate(row)) for row in padded.reshape(-1, lanes)]


def decode_result(plan: Plan, word: int) -> tuple[int, np.ndarray]:
    """Split an output ``payload`` into the class index and the signed integer scores."""
    scores_type = plan.stages[-1].in_type
    classes, width = scores_type.size, scores_type.width
    iw = index_width(classes)
    index = word & ((1 << iw) - 1)
    raw = [(word >> (iw + k * width)) & ((1 << width) - 1) for k in range(classes)]
    scores = np.array([r - (1 << width) if r >> (width - 1) else r for r in raw], np.int64)
    return index, scores
