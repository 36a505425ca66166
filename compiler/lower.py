"""Lowering: a hardware plan to one Amaranth component (the inference pipeline).

Each stage's op builds its component; where one stage's output words are not the next stage's input
words, a :class:`~bnn_hw.hdl.Repack` gearbox regroups the bits. The resulting :class:`Pipeline` takes
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


def build_pipeline(plan: Plan) -> Chain:
    """Instantiate the plan's stages (with gearboxes between mismatched bit streams) as one Chain."""
    stages = {}
    previous = None
    for stage in plan.stages:
        component = stage.hardware()
        if previous is not None and stage.in_type.kind is Kind.BITS:
            produced, wanted = payload_width(previous, "o"), payload_width(component, "i")
            if produced != wanted:
                stages[f"{stage.name}_repack"] = Repack(stage.in_type.bits, produced, wanted)
        stages[stage.name] = component
        previous = component
    return Chain(stages)
