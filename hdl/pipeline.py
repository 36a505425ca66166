"""A hardware plan as one Amaranth component: the inference pipeline.

Each stage of the plan (:class:`bnn_hw.compiler.Plan`) is built by the builder its op's component
registers (:func:`~bnn_hw.hdl.registry.stage_hardware`); where one stage's output words are not the
next stage's input words, a :class:`~bnn_hw.hdl.Repack` gearbox regroups the bits. Image stages
(convolutions, pools) stream one pixel (or one group of a pixel) per vector, padded to their words;
the others one whole value. A shortcut block becomes a :class:`~bnn_hw.hdl.ForkJoin` (with its
branch, if the shortcut computes) joined by its join op's component
(:func:`~bnn_hw.hdl.registry.join_hardware`). The resulting :class:`~bnn_hw.hdl.Chain` takes the
input stream ``i`` (pixels, ``simd`` per word, or bit words) and gives one ``o`` word per frame
holding the class ``index`` and all ``scores``.
"""

from __future__ import annotations

from ..compiler.plan import Plan
from ..compiler.stages import Block
from .chain import Chain, payload_width
from .fork_join import ForkJoin
from .registry import join_hardware, stage_hardware
from .repack import Repack

__all__ = ["build_pipeline", "payload_width"]


def build_pipeline(plan: Plan) -> Chain:
    """Instantiate the plan's stages, each behind its gearbox (:attr:`~bnn_hw.compiler.stages.Stage.gearbox`)
    where it has one, as one Chain; each :class:`~bnn_hw.compiler.stages.Block` becomes a
    :class:`~bnn_hw.hdl.ForkJoin` named after its join."""
    return Chain(_components(plan.layout))


def _components(layout) -> dict:
    components = {}
    for item in layout:
        if isinstance(item, Block):
            join, bypass = item.join, item.join.bypass
            if bypass.gearbox is not None:
                components[f"{join.name}_fork_repack"] = Repack(*bypass.gearbox)
            body = _components(item.body)
            if join.gearbox is not None:
                body[f"{join.name}_repack"] = Repack(*join.gearbox)
            branch = _components(item.branch) if item.branch else None
            if branch is not None and bypass.branch_gearbox is not None:
                branch[f"{join.name}_branch_repack"] = Repack(*bypass.branch_gearbox)
            body_bits = join.op.stream_words(join.in_type, join.fold)[0]
            components[join.name] = ForkJoin(Chain(body), join_hardware(join.op, body_bits, bypass.width, join.fold),
                                             bypass.depth, branch=None if branch is None else Chain(branch))
            continue
        if item.gearbox is not None:
            components[f"{item.name}_repack"] = Repack(*item.gearbox)
        components[item.name] = stage_hardware(item.op, item.in_type, item.fold)
    return components
