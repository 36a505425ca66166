"""Lowering: a hardware plan to one Amaranth component (the inference pipeline).

Each stage's op builds its component; where one stage's output words are not the next stage's input
words, a :class:`~bnn_hw.hdl.Repack` gearbox regroups the bits. Image stages (convolutions, pools)
stream one pixel (or one group of a pixel) per vector, padded to their words; the others one whole
value. The resulting :class:`Pipeline` takes
the input stream ``i`` (pixels, ``simd`` per word, or bit words) and gives one ``o`` word per frame
holding the class ``index`` and all ``scores``.
"""

from __future__ import annotations

from amaranth.hdl import Shape
from amaranth.lib import data

from ..hdl import Chain, Repack
from .ir import Kind
from .plan import Plan

__all__ = ["build_pipeline", "payload_width"]


def payload_width(component, port: str) -> int:
    """Width in bits of a stream port's payload."""
    shape = component.signature.members[port].signature.members["payload"].shape
    return Shape.cast(shape).width if not isinstance(shape, data.Layout) else shape.size


def _vector_bits(stage, value_type, side: str) -> int:
    """Bits of one vector of the stage's ``in`` or ``out`` stream: what the op says (image stages:
    a pixel), else the whole value."""
    vector_bits = getattr(stage.op, f"{side}_vector_bits", None)
    return vector_bits(value_type) if vector_bits else value_type.bits


def build_pipeline(plan: Plan) -> Chain:
    """Instantiate the plan's stages (with gearboxes between mismatched bit streams) as one Chain."""
    stages = {}
    previous = previous_stage = None
    for stage in plan.stages:
        component = stage.hardware()
        if previous is not None and stage.in_type.kind is Kind.BITS:
            produced, wanted = payload_width(previous, "o"), payload_width(component, "i")
            produced_vector = _vector_bits(previous_stage, stage.in_type, "out")
            wanted_vector = _vector_bits(stage, stage.in_type, "in")
            if (produced, produced_vector) != (wanted, wanted_vector):
                stages[f"{stage.name}_repack"] = Repack(produced_vector, produced, wanted, wanted_vector)
        stages[stage.name] = component
        previous, previous_stage = component, stage
    return Chain(stages)
