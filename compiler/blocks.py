"""The series-parallel structure of a graph, and the shortcut FIFO depth of its fork-join blocks.

bnn-hw's hardware is a chain of stages in which a *shortcut block* may stand for one stage: a value
is forked into a body of stages and into a FIFO, and a join node (a :class:`~.ops.LogicJoin`) takes
the body's result as its first input and the forked value as its second. Bodies may hold blocks of
their own. The shortcut may compute too (Bi-Real's downsampling shortcut): a *branch* of stages
between the fork and the FIFO, whose result the join takes as its second input.
:func:`series_parallel` finds this structure in a graph (nodes in the frontend's order: a body's
nodes directly after the value they start from, then the branch's, the join right after them) and
rejects any other graph in one line.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from ..errors import UnsupportedModelError
from .ir import Graph

__all__ = ["Shortcut", "series_parallel", "shortcut_depth", "deadlock_free_depth", "branch_shortcut_depth"]


@dataclass(frozen=True)
class Shortcut:
    """A fork-join block: ``body`` (node names and nested blocks, in order) starts from the value
    ``fork``; the node ``join`` joins the body's last value with ``fork``, or with the last value of
    ``branch`` (node names, in order, from ``fork``) where there is one."""

    fork: str
    body: tuple
    join: str
    branch: tuple = ()


def series_parallel(graph: Graph) -> tuple:
    """The graph's nodes in order, as node names and :class:`Shortcut` blocks."""
    items, pos, _ = _sequence(graph, graph.inputs[0][0], 0)
    if pos != len(graph.nodes):
        node = graph.nodes[pos]
        raise UnsupportedModelError(f"{node.name}: only chains of layers and logic shortcuts around them "
                                    f"are supported (it reads {', '.join(node.inputs)})")
    return tuple(items)


def _sequence(graph: Graph, value: str, pos: int):
    """Items from node ``pos`` on while they continue from ``value``; returns ``(items, next
    position, last value)``."""
    items, nodes = [], graph.nodes
    while pos < len(nodes) and nodes[pos].inputs == (value,):
        users = graph.consumers(value)
        if len(users) == 1:
            items.append(nodes[pos].name)
            value, pos = nodes[pos].name, pos + 1
            continue
        joins = [u for u in users if len(u.inputs) == 2 and u.inputs[1] == value]
        if len(users) != 2 or len(joins) > 1:
            raise UnsupportedModelError(f"{value} feeds {', '.join(u.name for u in users)}: a value may "
                                        f"feed one layer, or a shortcut block's body and its join (or branch)")
        first = nodes[pos]
        body, pos, last = _sequence(graph, first.name, pos + 1)
        body, branch, shortcut = [first.name] + body, [], value
        if not joins and pos < len(nodes) and nodes[pos].inputs == (value,):
            start = nodes[pos]
            rest, pos, shortcut = _sequence(graph, start.name, pos + 1)
            branch = [start.name] + rest
        join = nodes[pos] if pos < len(nodes) else None
        if join is None or join.inputs != (last, shortcut) or any(not isinstance(b, str) for b in branch):
            raise UnsupportedModelError(f"{join.name if join else value}: the shortcut block from {value} "
                                        f"must end in its join")
        items.append(Shortcut(value, tuple(body), join.name, tuple(branch)))
        value, pos = join.name, pos + 1
    return items, pos, value


def deadlock_free_depth(body, vectors: int) -> int:
    """The fewest words the shortcut FIFO of a block needs so that no schedule deadlocks.

    ``body`` lists the body's stages in order (those of nested blocks included), each an object with
    ``op`` and ``in_type``; ``vectors`` is the number of vectors (pixels, or 1 for a vector
    value) per frame at the join. An op's ``inputs_needed(in_type, n)`` says how many input vectors
    it must have before it gives its ``n``-th output vector (by default ``n``: a vector in, a vector
    out). When the body gives result ``n`` the fork has sent ``need(n)`` words
    and the join has taken ``n - 1``. The last of them may still wait at the fork (an eager fork: the
    body has taken it, the FIFO not yet), so the FIFO must hold ``max(need(n) - n)`` of them, and at
    least the one the join reads; the count repeats from frame to frame. One word less deadlocks
    (``tests/test_compiler_blocks.py`` shows it in simulation).
    """
    return max(1, _largest_lead(body, vectors, _needed))


def shortcut_depth(body, vectors: int) -> int:
    """Words the shortcut FIFO of a block gets: as many as the body can take ahead of its results,
    so that the shortcut never holds the fork back while the body could go on (throughput), and at
    least :func:`deadlock_free_depth`.

    An op's ``inputs_accepted(in_type, n)`` is the most input vectors it takes before its ``n``-th
    output (a window generator: its whole line buffer; by default two vectors ahead, its
    double-buffered input or output FIFO). With the deadlock-free depth alone, the shipped
    BoolNet-style network took 13,767 cycles per frame in cocotb instead of 7,056
    (``benchmarks/shortcut_fifo.py``).
    """
    return max(deadlock_free_depth(body, vectors), _largest_lead(body, vectors, _accepted))


def branch_shortcut_depth(body, branch, vectors: int) -> int:
    """Results the FIFO after a computing shortcut branch gets (it holds the branch's results, the
    join's second inputs), as :func:`shortcut_depth` counts them for a plain shortcut.

    When the body gives result ``n`` the fork has sent it ``need(n)`` inputs, and as many reached the
    branch, which has made every result ``m`` with ``need_branch(m) <= need(n)``; the join has taken
    ``n - 1``. The FIFO holds the rest (one fewer, as for a plain shortcut: the last input may wait
    at the fork). For throughput ``need`` is what the body takes ahead (``inputs_accepted``). The
    branch must not need more inputs for a result than the body does (the body would wait on a join
    that waits on the branch); :class:`UnsupportedModelError` says so.
    """
    branch_need = _composed(branch, _needed)
    body_need, body_ahead = _composed(body, _needed), _composed(body, _accepted)
    late = next((n for n in range(1, vectors + 1) if branch_need(n) > body_need(n)), None)
    if late is not None:
        raise UnsupportedModelError(f"the shortcut branch {branch[0].name} needs {branch_need(late)} inputs for "
                                    f"result {late}, more than the block's body ({body_need(late)})")
    needs = [branch_need(m) for m in range(1, 2 * vectors + 1)]   # ascending; the body may read ahead into the next frame

    def results(inputs: int) -> int:
        return bisect_right(needs, inputs)

    lead = max(max(results(need(n)) - n for n in range(1, vectors + 1)) for need in (body_need, body_ahead))
    return max(1, lead)


def _needed(stage, n: int) -> int:
    return stage.op.inputs_needed(stage.in_type, n)


def _accepted(stage, n: int) -> int:
    return stage.op.inputs_accepted(stage.in_type, n)


def _composed(body, per_stage):
    """``n -> inputs(n)``: the inputs the stages of ``body`` take before their ``n``-th result,
    composed from each stage's ``per_stage(stage, n)``."""
    stages = list(reversed(body))

    def inputs(n: int) -> int:
        for stage in stages:
            n = per_stage(stage, n)
        return n

    return inputs


def _largest_lead(body, vectors: int, per_stage) -> int:
    """``max(inputs(n) - n)`` over a frame's results, ``inputs`` composed over the body's stages."""
    inputs = _composed(body, per_stage)
    return max(inputs(n) - n for n in range(1, vectors + 1))
