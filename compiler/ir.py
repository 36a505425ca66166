"""The compiler's graph IR: small, immutable, validated.

A :class:`Graph` is a tuple of :class:`Node` in topological order plus its input and output names.
Each node applies an *op* (a frozen dataclass from :mod:`bnn_hw.compiler.ops`) to the values named in
``inputs``. Ops own their semantics through the contract of :mod:`bnn_hw.compiler.ops.base`:
``infer`` (type rule), ``reference`` (NumPy), and, for ops that exist in hardware, folding, streams,
``hardware`` and ``cost``. Passes are pure functions ``Graph -> Graph``.

Values are typed by :class:`TensorType`: a shape (channels-last, no batch dimension) and a
:class:`Kind`. Bits are the binary +-1 values (bit 1 = +1), ``UINT8`` are pixels, ``INT`` are exact
integers (scores, or fixed-point values: integers ``k`` standing for ``k / 2**frac``), ``REAL`` are
floating-point values that exist only before streamlining.
"""

from __future__ import annotations

import enum
import functools
import os
from dataclasses import dataclass, replace
from math import prod

__all__ = ["Kind", "TensorType", "Node", "Graph", "validate", "ValidationError", "checked_pass"]


class ValidationError(Exception):
    """The graph breaks an IR rule: a compiler bug (the frontend turns what a model can cause into
    :class:`~bnn_hw.errors.UnsupportedModelError`), so not a user error: the CLI shows its traceback."""


class Kind(enum.Enum):
    BITS = "bits"     #: binary values, +1 as bit 1 and -1 as bit 0
    UINT8 = "uint8"   #: 8-bit unsigned integers (pixels)
    INT = "int"       #: exact signed integers (``width`` bits, two's complement)
    REAL = "real"     #: floating point; must be streamlined away before hardware


@dataclass(frozen=True)
class TensorType:
    """Type of one value flowing along a graph edge (per sample, no batch dimension)."""

    shape: tuple[int, ...]
    kind: Kind
    width: int = 1  #: bits per element (1 for BITS, 8 for UINT8, the signed width for INT)
    frac: int = 0   #: fraction bits of a fixed-point INT (the element ``k`` stands for ``k / 2**frac``)

    def __post_init__(self):
        if self.frac and (self.kind is not Kind.INT or not 0 < self.frac < self.width):
            raise ValueError(f"only INT values have fraction bits, fewer than their width, not {self.frac}")
        if not self.shape or any(not isinstance(s, int) or s < 1 for s in self.shape):
            raise ValueError(f"shape must be a non-empty tuple of positive ints, not {self.shape!r}")
        if self.kind is Kind.BITS and self.width != 1:
            raise ValueError("BITS elements are 1 bit wide")
        if self.kind is Kind.UINT8 and self.width != 8:
            raise ValueError("UINT8 elements are 8 bits wide")

    @property
    def size(self) -> int:
        """Number of elements."""
        return prod(self.shape)

    @property
    def bits(self) -> int:
        """Storage bits of one value of this type."""
        return self.size * self.width

    def __str__(self):
        dims = "x".join(map(str, self.shape))
        width = f"{self.width}.{self.frac}" if self.frac else str(self.width)
        return f"{self.kind.value}{width if self.kind is Kind.INT else ''}[{dims}]"


@dataclass(frozen=True)
class Node:
    """One op application. ``name`` is unique in the graph and names the node's output value."""

    name: str
    op: object
    inputs: tuple[str, ...]

    def with_op(self, op) -> "Node":
        return replace(self, op=op)


@dataclass(frozen=True)
class Graph:
    """An immutable dataflow graph: ``nodes`` in topological order."""

    inputs: tuple[tuple[str, TensorType], ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def types(self) -> dict[str, TensorType]:
        """Infer the type of every value (graph inputs and node outputs), validating as it goes."""
        types = dict(self.inputs)
        for n in self.nodes:
            missing = [i for i in n.inputs if i not in types]
            if missing:
                raise ValidationError(f"node {n.name!r} reads {missing[0]!r}, which is not defined before it")
            try:
                types[n.name] = n.op.infer(tuple(types[i] for i in n.inputs))
            except ValueError as e:
                raise ValidationError(f"node {n.name!r} ({type(n.op).__name__}): {e}") from None
        return types

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def __str__(self):
        types = self.types()
        lines = [f"input {name}: {t}" for name, t in self.inputs]
        for n in self.nodes:
            lines.append(f"{n.name} = {n.op!r}({', '.join(n.inputs)}) -> {types[n.name]}")
        lines.append(f"output {', '.join(self.outputs)}")
        return "\n".join(lines)


def validate(graph: Graph) -> Graph:
    """Check the IR rules: unique names, defined-before-use, per-op type rules, outputs exist."""
    names = [name for name, _ in graph.inputs] + [n.name for n in graph.nodes]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValidationError(f"value name {sorted(dup)[0]!r} is defined more than once")
    types = graph.types()
    for out in graph.outputs:
        if out not in types:
            raise ValidationError(f"graph output {out!r} is not defined")
    if not graph.outputs:
        raise ValidationError("graph has no outputs")
    return graph


def checked_pass(fn):
    """Decorate a pass ``Graph -> Graph``; with ``BNN_HW_VALIDATE=1`` its result is validated."""

    @functools.wraps(fn)
    def run(graph: Graph, *args, **kwargs) -> Graph:
        result = fn(graph, *args, **kwargs)
        if os.environ.get("BNN_HW_VALIDATE") == "1":
            validate(result)
        return result

    return run
