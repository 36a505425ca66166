"""Streamlining: fold the real-valued chain after each layer's integer sums into integer hardware.

A chain is the ops that follow a node one-to-one: per-channel real ops (:attr:`Chain.AFFINE
<bnn_hw.compiler.ops.base.Chain>`: scale, BatchNorm), ending in a sign (bits) or a fixed-point
rounding. The op before the chain folds it (:meth:`~bnn_hw.compiler.ops.base.Op.fold_chain`): a
binary layer into thresholds on its popcount, or into a table of fixed-point values after its scores;
a fixed-point 1x1 convolution into levels on its sums. The math is in :mod:`.thresholds`; it
evaluates the chain with the model's own float32 operations, so the result is exact by construction.

Then each op may fuse with the op that reads its value (:meth:`~bnn_hw.compiler.ops.base.Op.fuse`):
stacked gate layers and their group sums become one gate network.

Any real-valued op left afterwards, or one that is built only fused (:attr:`~bnn_hw.compiler.ops.base.Op.needs_fusion`),
cannot be built in hardware and raises :class:`UnsupportedModelError` naming it.
"""

from __future__ import annotations

from ..errors import UnsupportedModelError
from .ir import Graph, Node, checked_pass
from .ops.base import Chain

__all__ = ["streamline"]


def _chain_after(graph: Graph, node: Node) -> list[Node] | None:
    """The affine nodes that follow ``node`` one-to-one, ending in a sign or rounding, or None."""
    chain, current = [], node
    while True:
        users = graph.consumers(current.name)
        if len(users) != 1 or current.name in graph.outputs:
            return None
        current = users[0]
        if current.op.chain in (Chain.BITS, Chain.FIXED):
            return chain + [current]
        if current.op.chain is not Chain.AFFINE:
            return None
        chain.append(current)


@checked_pass
def streamline(graph: Graph) -> Graph:
    """Let every op fold the real-valued chain after it (:meth:`~bnn_hw.compiler.ops.base.Op.fold_chain`);
    raise :class:`UnsupportedModelError` for a real-valued op that nothing folded."""
    types = graph.types()
    rename: dict[str, str] = {}
    dropped: set[str] = set()
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.name in dropped:
            continue
        node = Node(node.name, node.op, tuple(rename.get(i, i) for i in node.inputs))
        chain = _chain_after(graph, node)
        last = chain[-1].name if chain else node.name
        folded = node.op.fold_chain(types[node.inputs[0]], chain and [n.op for n in chain], last)
        if folded is not None:
            op, after = folded
            dropped.update(n.name for n in chain)
            if after is None:
                node = node.with_op(op)
                rename[last] = node.name
            else:
                nodes.append(node.with_op(op))
                node = Node(last, after, (node.name,))
        elif node.op.real_only:
            raise UnsupportedModelError(
                f"{node.name}: {node.op.layer_name} here cannot be folded; bnn-hw folds real-valued layers (scale, "
                f"BatchNorm, bias, PReLU, ReLU, Sigmoid) and a Sign or FixedPoint only directly after a "
                f"BinaryLinear, BinaryConv2d or FixedPointConv2d, and the last BinaryLinear's scores must be the "
                f"output")
        nodes.append(node)
    outputs = tuple(rename.get(o, o) for o in graph.outputs)
    return _fused(Graph(graph.inputs, tuple(nodes), outputs))


def _fused(graph: Graph) -> Graph:
    """Fuse every node with its only reader while its op agrees (:meth:`~bnn_hw.compiler.ops.base.Op.fuse`);
    the fused node keeps the first node's name."""
    types = graph.types()
    nodes, outputs = list(graph.nodes), list(graph.outputs)
    index = 0
    while index < len(nodes):
        node = nodes[index]
        readers = [n for n in nodes if node.name in n.inputs]
        fused = None
        if len(readers) == 1 and node.name not in outputs and len(readers[0].inputs) == 1:
            fused = node.op.fuse(types[node.inputs[0]], readers[0].op)
        if fused is None:
            if node.op.needs_fusion:
                raise UnsupportedModelError(f"{node.name}: {node.op.needs_fusion}")
            index += 1
            continue
        reader = readers[0]
        nodes.remove(reader)
        nodes[index] = node.with_op(fused)
        nodes = [Node(n.name, n.op, tuple(node.name if i == reader.name else i for i in n.inputs)) for n in nodes]
        outputs = [node.name if o == reader.name else o for o in outputs]
    return Graph(graph.inputs, tuple(nodes), tuple(outputs))
