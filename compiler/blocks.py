"""The series-parallel structure of a graph, and the shortcut FIFO depth of its fork-join blocks.

bnn-hw's hardware is a chain of stages in which a *shortcut block* may stand for one stage: a value
is forked into a body of stages and into a FIFO, and a join node (a :class:`~.ops.LogicJoin`) takes
the body's result as its first input and the forked value as its second. Bodies may hold blocks of
their own. :func:`series_parallel` finds this structure in a graph (nodes in the frontend's order:
a body's nodes directly after the value they start from, the join right after them) and rejects any
other graph in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedModelError
from .ir import Graph

__all__ = ["Shortcut", "series_parallel", "shortcut_depth", "deadlock_free_depth"]


@dataclass(frozen=True)
class Shortcut:
    """A fork-join block: ``body`` (node names and nested blocks, in order) starts from the value
    ``fork``; the node ``join`` joins the body's last value with ``fork``."""

    fork: str
    body: tuple
    join: str


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
        if len(users) != 2 or len(joins) != 1:
            raise UnsupportedModelError(f"{value} feeds {', '.join(u.name for u in users)}: a value may "
                                        f"feed one layer, or a shortcut block's body and its join")
        first = nodes[pos]
        body, pos, last = _sequence(graph, first.name, pos + 1)
        body, join = [first.name] + body, joins[0]
        if pos == len(nodes) or nodes[pos] is not join or join.inputs[0] != last:
            raise UnsupportedModelError(f"{join.name}: the shortcut block from {value} must end in its join")
        items.append(Shortcut(value, tuple(body), join.name))
        value, pos = join.name, pos + 1
    return items, pos, value


def deadlock_free_depth(body, vectors: int) -> int:
    """The fewest words the shortcut FIFO of a block needs so that no schedule deadlocks.

    ``body`` lists the body's stages in order (those of nested blocks included), each an object with
    ``op`` and ``in_type``; ``vectors`` is the number of vectors (pixels, or 1 for a vector
    value) per frame at the join. An op's ``inputs_needed(in_type, n)`` says how many input vectors
    it must have before it gives its ``n``-th output vector (1 each, if it has no such method: a
    vector in, a vector out). When the body gives result ``n`` the fork has sent ``need(n)`` words
    and the join has taken ``n - 1``. The last of them may still wait at the fork (an eager fork: the
    body has taken it, the FIFO not yet), so the FIFO must hold ``max(need(n) - n)`` of them, and at
    least the one the join reads; the count repeats from frame to frame. One word less deadlocks
    (``tests/test_compiler_blocks.py`` shows it in simulation).
    """
    return max(1, _largest_lead(body, vectors, "inputs_needed", 0))


def shortcut_depth(body, vectors: int) -> int:
    """Words the shortcut FIFO of a block gets: as many as the body can take ahead of its results,
    so that the shortcut never holds the fork back while the body could go on (throughput), and at
    least :func:`deadlock_free_depth`.

    An op's ``inputs_accepted(in_type, n)`` is the most input vectors it takes before its ``n``-th
    output (a window generator: its whole line buffer); an op without one takes up to two vectors
    ahead (its double-buffered input or output FIFO). With the deadlock-free depth alone, the shipped
    BoolNet-style network took 13,767 cycles per frame in cocotb instead of 7,056
    (``benchmarks/shortcut_fifo.py``).
    """
    return max(deadlock_free_depth(body, vectors), _largest_lead(body, vectors, "inputs_accepted", 2))


def _largest_lead(body, vectors: int, method: str, slack: int) -> int:
    """``max(inputs(n) - n)`` over a frame's results, ``inputs`` composed over the body's stages from
    each op's ``method`` (``n + slack`` where an op has none)."""
    stages = list(reversed(body))

    def inputs(n: int) -> int:
        for stage in stages:
            per_op = getattr(stage.op, method, None)
            n = per_op(stage.in_type, n) if per_op else n + slack
        return n

    return max(inputs(n) - n for n in range(1, vectors + 1))
