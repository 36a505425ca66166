"""Lowering: a hardware plan to one Amaranth component (the inference pipeline).

Each stage's op builds its component; where one stage's output words are not the next stage's input
words, a :class:`~bnn_hw.hdl.Repack` gearbox regroups the bits. Image stages (convolutions, pools)
stream one pixel (or one group of a pixel) per vector, padded to their words; the others one whole
value. The resulting :class:`Pipeline` takes
the input stream ``i`` (pixels, ``simd`` per word, or bit words) and gives one ``o`` word per frame
holding the class ``index`` and all ``scores``.
"""

from __future__ import annotations

from ..hdl import Chain, Repack
from ..hdl.chain import payload_width
from .plan import Plan

__all__ = ["build_pipeline", "payload_width"]


def build_pipeline(plan: Plan) -> Chain:
    """Instantiate the plan's stages, each behind its gearbox (:attr:`~bnn_hw.compiler.plan.Stage.gearbox`)
    where it has one, as one Chain."""
    stages = {}
    for stage in plan.stages:
        if stage.gearbox is not None:
            stages[f"{stage.name}_repack"] = Repack(*stage.gearbox)
        stages[stage.name] = stage.hardware()
    return Chain(stages)
