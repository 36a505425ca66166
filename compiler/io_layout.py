"""How a compiled plan's frames and results are laid out: on the pipeline's stream ports, and as the
payloads of the UART protocol (:mod:`bnn_hw.wire`).

Everything that turns a plan into numbers and bytes at the pipeline's edges lives here, for every
driver alike: the simulation (:mod:`bnn_hw.sim`), the board builds (:mod:`bnn_hw.boards`, which
hand the server in :mod:`bnn_hw.hdl.uart_server` its :func:`plan_info`) and the host client
(:mod:`bnn_hw.protocol`).
"""

from __future__ import annotations

import hashlib
from dataclasses import fields, is_dataclass

import numpy as np

from ..errors import BnnHwError
from ..intmath import ceil_div
from ..wire import Info, ProtocolError
from .ir import Kind
from .microarch import index_width
from .plan import Plan

__all__ = ["input_word_bits", "input_words", "result_bits", "decode_result", "design_id", "plan_info",
           "check_uart_words", "encode_frame", "decode_infer_reply"]


def _input_lanes(plan: Plan) -> tuple[int, int]:
    """(elements per input word, bits per element)."""
    first = plan.stages[0]
    width = 8 if plan.input_type.kind is Kind.UINT8 else 1
    # the first stage's input words (an image stage: one pixel's channels; else simd elements)
    return first.op.word_bits(first.in_type, first.fold)[0] // width, width


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
    padded = np.zeros(ceil_div(frame.size, lanes) * lanes, np.int64)
    padded[:frame.size] = frame
    return [sum(int(v) << (k * width) for k, v in enumerate(row)) for row in padded.reshape(-1, lanes)]


def result_bits(plan: Plan) -> int:
    """Bits of the pipeline's output word: the class index, then every score."""
    scores = plan.stages[-1].in_type
    return index_width(scores.size) + scores.size * scores.width


def decode_result(plan: Plan, word: int) -> tuple[int, np.ndarray]:
    """Split an output ``payload`` into the class index and the signed integer scores."""
    scores_type = plan.stages[-1].in_type
    classes, width = scores_type.size, scores_type.width
    iw = index_width(classes)
    index = word & ((1 << iw) - 1)
    raw = [(word >> (iw + k * width)) & ((1 << width) - 1) for k in range(classes)]
    scores = np.array([r - (1 << width) if r >> (width - 1) else r for r in raw], np.int64)
    return index, scores


def design_id(plan: Plan) -> int:
    """A 32-bit id of what a host needs to agree on with the bitstream: the network and its input layout.

    The first 4 bytes (little-endian) of a SHA-256 over the input type, every stage's name, op and op
    parameters (arrays by dtype, shape and bytes) and the input word width. The folding of the inner
    layers does not change it (it does not change what crosses the serial link).
    """
    digest = hashlib.sha256()

    def add(*items):
        for item in items:
            digest.update(repr(item).encode() + b"\0")

    add(str(plan.input_type), input_word_bits(plan))
    for stage in plan.stages:
        add(stage.name, type(stage.op).__name__)
        for item in fields(stage.op) if is_dataclass(stage.op) else ():
            value = getattr(stage.op, item.name)
            if isinstance(value, np.ndarray):
                add(item.name, value.dtype.str, value.shape)
                digest.update(np.ascontiguousarray(value).tobytes())
            else:
                add(item.name, value)
    return int.from_bytes(digest.digest()[:4], "little")


def check_uart_words(plan: Plan) -> None:
    """A one-line :class:`~bnn_hw.errors.BnnHwError` where ``plan``'s input words are too wide for the
    UART protocol (its INFO gives their bytes in one byte: at most 255)."""
    word_bytes = ceil_div(input_word_bits(plan), 8)
    if word_bytes > 255:
        first = plan.stages[0]
        raise BnnHwError(f"the UART protocol carries input words of at most 255 bytes, but this folding's "
                         f"input words are {word_bytes} bytes ({first.name} at {first.fold}); "
                         f"fold {first.name} narrower for a UART build")


def plan_info(plan: Plan, design: int | None = None) -> Info:
    """The INFO a bitstream built from ``plan`` reports (``design`` defaults to :func:`design_id`)."""
    scores = plan.stages[-1].in_type
    check_uart_words(plan)
    return Info(input_words=len(input_words(plan, np.zeros(plan.input_type.size, np.uint8))),
                bytes_per_word=ceil_div(input_word_bits(plan), 8), result_bytes=ceil_div(result_bits(plan), 8),
                classes=scores.size, score_width=scores.width,
                design_id=design_id(plan) if design is None else design)


def encode_frame(plan: Plan, frame) -> bytes:
    """The INFER payload for one input ``frame`` of ``plan``: its :func:`input_words`, each as
    ``ceil(input_word_bits / 8)`` bytes, little-endian."""
    size = ceil_div(input_word_bits(plan), 8)
    return b"".join(word.to_bytes(size, "little") for word in input_words(plan, frame))


def decode_infer_reply(plan: Plan, payload: bytes) -> tuple[int, np.ndarray]:
    """The class index and the integer scores in an INFER reply payload; :class:`~bnn_hw.wire.ProtocolError`
    when the payload cannot be ``plan``'s result."""
    bits = result_bits(plan)
    if len(payload) != ceil_div(bits, 8):
        raise ProtocolError(f"INFER reply has {len(payload)} payload bytes, the model's result needs "
                            f"{ceil_div(bits, 8)}; is the bitstream built for this model?")
    word = int.from_bytes(payload, "little")
    if word >> bits:
        raise ProtocolError("INFER reply has bits set beyond the model's result; is the bitstream built "
                            "for this model?")
    index, scores = decode_result(plan, word)
    if index >= len(scores):
        raise ProtocolError(f"INFER reply names class {index} of {len(scores)}; is the bitstream built "
                            f"for this model?")
    return index, scores
