"""Arrangement: a folded graph as the hardware's order of stages and fork-join blocks.

:func:`arrange` walks the graph's series-parallel structure (:func:`~.blocks.series_parallel`) and
makes each node a :class:`~.stages.Stage` with its fold, and each shortcut block a
:class:`~.stages.Block` whose join carries the shortcut FIFO (:class:`~.stages.Bypass`, its depth
from :mod:`.blocks`). Where one stage's output words are not the next stage's input words, the
stage gets a gearbox (:class:`~bnn_hw.hdl.Repack` arguments) in front of it.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import UnsupportedModelError
from .blocks import Shortcut, branch_shortcut_depth, series_parallel, shortcut_depth
from .cost import BlockRam
from .ir import Graph
from ..intmath import ceil_div
from .stages import Block, Bypass, Stage, flatten

__all__ = ["arrange"]


def arrange(graph: Graph, folds: dict, block_ram: BlockRam) -> tuple:
    """The hardware in order: stages, and :class:`~.stages.Block` s for the graph's shortcut blocks,
    each stage with the gearbox in front of it, costed in ``block_ram`` blocks."""
    items = series_parallel(graph)
    if items and isinstance(items[0], Shortcut):
        raise UnsupportedModelError(f"{items[0].join}: a logic shortcut needs a layer before it")
    layout, _ = _Arranger(graph, folds, block_ram).arrange(items, None)
    return tuple(layout)


class _Arranger:
    def __init__(self, graph: Graph, folds: dict, block_ram: BlockRam):
        self.graph, self.folds, self.block_ram = graph, folds, block_ram
        self.types = graph.types()

    def stage(self, name: str) -> Stage:
        node = self.graph.node(name)
        return Stage(name, node.op, self.types[node.inputs[0]], self.types[name], self.folds[name], self.block_ram)

    def arrange(self, items, produced):
        """``items`` as stages and blocks with their gearboxes, given the ``(word, vector)`` bits of
        the stream that feeds them (None at the input); returns them and what they produce."""
        layout = []
        for item in items:
            if isinstance(item, Shortcut):
                block, produced = self.block(item, produced)
                layout.append(block)
                continue
            stage = self.stage(item)
            wanted = (stage.op.word_bits(stage.in_type, stage.fold)[0], stage.op.in_vector_bits(stage.in_type))
            layout.append(replace(stage, gearbox=gearbox(produced, wanted)))
            produced = (stage.op.word_bits(stage.in_type, stage.fold)[1], stage.op.out_vector_bits(stage.out_type))
        return layout, produced

    def block(self, item: Shortcut, produced):
        """The block of ``item`` fed by ``produced``, and what it produces: the join's words (whole
        vectors, or lanes of fixed-point values) into the fork, out of the body and out of the join;
        the FIFO holds as many vectors as the body takes ahead. A shortcut with a branch forks the
        producer's words as they come (its FIFO holds the join's words, after the branch): the join's
        lanes on the fork's value, which has more values than the join's where the branch
        downsamples, would put a gearbox in front of the fork slower than any stage (BNext's
        14x14x48 map at the 7x7x96 join's one lane: 9,408 words a frame against 7,056 cycles)."""
        join = self.stage(item.join)
        fork = produced if item.branch else join.op.stream_words(self.types[item.fork], join.fold)
        joined = join.op.stream_words(join.in_type, join.fold)
        body, result = self.arrange(item.body, fork)
        vectors = join.op.vectors_per_frame(join.in_type)
        branch, branch_gearbox, shortcut = [], None, fork
        depth = join.op.shortcut_vectors(join.in_type)
        if item.branch:
            branch, branch_result = self.arrange(item.branch, fork)
            shortcut = join.op.stream_words(self.types[item.branch[-1]], join.fold)
            branch_gearbox = gearbox(branch_result, shortcut)
            depth = depth or branch_shortcut_depth(flatten(body), flatten(branch), vectors)
        else:
            depth = depth or shortcut_depth(flatten(body), vectors)
        words = ceil_div(shortcut[1], shortcut[0])
        bypass = Bypass(shortcut[0], words * depth, gearbox(produced, fork), words, branch_gearbox)
        block = Block(tuple(body), replace(join, gearbox=gearbox(result, joined), bypass=bypass), tuple(branch))
        return block, join.op.stream_words(join.out_type, join.fold)


def gearbox(produced: tuple[int, int] | None, wanted: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The :class:`~bnn_hw.hdl.Repack` arguments from ``produced`` to ``wanted`` ``(word, vector)``
    bits, or None where they agree (or at the pipeline's input)."""
    if produced is None or produced == wanted:
        return None
    return produced[1], produced[0], wanted[0], wanted[1]
