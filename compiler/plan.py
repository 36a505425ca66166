"""The hardware plan: a streamlined graph plus a folding, with per-stage costs.

This is what both the NumPy reference and the HDL generator consume::

    plan = compile_model(bnn_hw.load("net.pt"))  # bnn_hw.compiler.driver
    classes, scores = plan.predict(images)      # bit-exact reference
    top = build_pipeline(plan)                  # Amaranth component (bnn_hw.hdl.pipeline)

A plan's block-RAM estimates count blocks of one primitive (``plan.block_ram``: the target device's,
given by the caller, or :data:`~bnn_hw.compiler.cost.GENERIC_BLOCK_RAM`, no device's);
:meth:`Plan.costed_for` gives the same plan costed for another device's block RAM.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from .arrange import arrange
from .cost import GENERIC_BLOCK_RAM, BlockRam, Cost
from .ir import Graph, TensorType
from .reference import predict
from .stages import Stage, flatten

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """A streamlined graph with a folding per stage, costed for one block-RAM primitive."""

    graph: Graph
    folds: dict
    block_ram: BlockRam = GENERIC_BLOCK_RAM  #: the block RAM the estimates count (the target device's)

    @cached_property
    def layout(self) -> tuple:
        """The hardware in order: stages, and :class:`~.stages.Block` s for the graph's shortcut blocks, each
        stage with the gearbox in front of it (:func:`~.arrange.arrange`)."""
        return arrange(self.graph, self.folds, self.block_ram)

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """Every stage in order (those of a block's body, then its join)."""
        return tuple(flatten(self.layout))

    @property
    def input_type(self) -> TensorType:
        return self.graph.inputs[0][1]

    @cached_property
    def total(self) -> Cost:
        total = Cost()
        for stage in self.stages:
            total = total + stage.cost
        return total

    @property
    def bottleneck(self) -> Stage:
        return max(self.stages, key=lambda s: s.cost.cycles)

    def costed_for(self, block_ram: BlockRam) -> "Plan":
        """This plan with its estimates counting ``block_ram`` blocks (itself if it already does)."""
        return self if block_ram == self.block_ram else replace(self, block_ram=block_ram)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reference class indices and integer scores for a batch of inputs."""
        return predict(self.graph, images)
