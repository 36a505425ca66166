"""The hardware plan's parts: stages, fork-join blocks and their shortcuts, each with its cost.

A :class:`Stage` is one graph node as hardware (its types, fold, gearbox and estimated cost); a
:class:`Block` a fork-join block of stages beside the shortcut FIFO of its join's :class:`Bypass`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .cost import GENERIC_BLOCK_RAM, BlockRam, Cost, gearbox_cost
from .folding import Fold
from .ir import TensorType

__all__ = ["Stage", "Bypass", "Block", "flatten"]


@dataclass(frozen=True)
class Bypass:
    """The shortcut of a fork-join block: a FIFO of ``depth`` words of ``width`` bits beside the body
    (``words_per_vector`` words per vector), and the gearbox (:class:`~bnn_hw.hdl.Repack` arguments)
    in front of the fork, or None; with a computing branch, the gearbox between the branch and the
    FIFO, or None."""

    width: int
    depth: int
    gearbox: tuple[int, int, int, int] | None = None
    words_per_vector: int = 1
    branch_gearbox: tuple[int, int, int, int] | None = None

    def cost(self, block_ram: BlockRam) -> Cost:
        """The FIFO of ``depth - 1`` words (its memory, output register and counters), the register
        after it, the fork and the gearbox."""
        fifo = block_ram.place(self.width, max(self.depth - 1, 1))
        count = self.depth.bit_length()
        cost = Cost(lut4=fifo.lut4 + 4 * count + 12, ff=2 * self.width + 2 * count + 4, ebr=fifo.ebr,
                    buffer_bits=self.width * self.depth)
        for gearbox in (self.gearbox, self.branch_gearbox):
            cost = cost if gearbox is None else cost + gearbox_cost(*gearbox)
        return cost


@dataclass(frozen=True)
class Stage:
    """One hardware stage: a graph node with its types, folding and estimated cost."""

    name: str
    op: object
    in_type: TensorType
    out_type: TensorType
    fold: Fold
    block_ram: BlockRam = GENERIC_BLOCK_RAM  #: the block RAM its ``cost.ebr`` counts
    #: the :class:`~bnn_hw.hdl.Repack` arguments of the gearbox in front of the stage, or None
    gearbox: tuple[int, int, int, int] | None = None
    #: a join's shortcut (the block's fork, FIFO and fork gearbox), whose cost is counted here
    bypass: Bypass | None = None

    @property
    def unrolled(self) -> bool:
        """The stage is built unrolled: its weights are logic (a dense layer at its full lanes)."""
        return bool(getattr(self.op, "is_unrolled", None) and self.op.is_unrolled(self.in_type, self.fold))

    @cached_property
    def cost(self) -> Cost:
        """The op's cost, plus its gearbox's and shortcut's."""
        cost = self.op.cost(self.in_type, self.fold, self.block_ram)
        if self.gearbox is not None:
            cost = cost + gearbox_cost(*self.gearbox)
        return cost if self.bypass is None else cost + self.bypass.cost(self.block_ram)

    @cached_property
    def latency(self) -> int:
        """Estimated cycles from the stage's first input word of a frame to its first output word:
        the op's latency, or its gearbox's words if those take longer."""
        gearbox = 0 if self.gearbox is None else gearbox_cost(*self.gearbox).cycles
        return max(self.op.latency(self.in_type, self.fold), gearbox)


@dataclass(frozen=True)
class Block:
    """A fork-join block of the hardware: ``body`` (stages and blocks) beside the shortcut FIFO of
    ``join.bypass``, joined by the ``join`` stage (its ``gearbox`` sits at the end of the body); a
    computing shortcut has its ``branch`` stages in front of the FIFO."""

    body: tuple
    join: Stage
    branch: tuple = ()

    def stages(self) -> list[Stage]:
        return flatten(self.body) + flatten(self.branch) + [self.join]


def flatten(items) -> list[Stage]:
    """The stages of ``items`` (stages and blocks) in order."""
    return [s for item in items for s in (item.stages() if isinstance(item, Block) else [item])]
