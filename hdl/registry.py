"""Which hardware builds each IR op: the builders that the component modules of ``bnn_hw.hdl`` register.

An op (:mod:`bnn_hw.compiler.ops`) says what a stage computes, how it folds and what it costs; the
module of the Amaranth component that implements it says how it is built, beside the component::

    @builds(ops.BinaryDense)
    def _binary_dense(op, in_type, fold):
        return MatrixVectorUnit(op.weights, op.thresholds, pe=fold.pe, simd=fold.simd)

A stage's builder is called as ``fn(op, in_type, fold)`` and gives a ``wiring.Component`` with stream
ports ``i`` and ``o`` (:func:`stage_hardware`); the builder of a join
(:class:`~bnn_hw.compiler.ops.base.JoinOp`) as ``fn(op, body_bits, shortcut_bits, fold)`` and gives
the joining component of a :class:`~bnn_hw.hdl.ForkJoin` (:func:`join_hardware`). The lookup follows
the op class's method resolution order: a subclass is built as its base unless it registers a builder
of its own. The package imports every module of ``bnn_hw.hdl``, so every builder is registered once
``bnn_hw.hdl`` is imported, and a new component registers its op without an edit here.
"""

from __future__ import annotations

from typing import Callable

from ..compiler.ops.base import JoinOp, StreamOp

__all__ = ["BUILDERS", "builds", "builder", "stage_hardware", "join_hardware"]

#: Op class -> the function that builds its hardware (filled by :func:`builds`).
BUILDERS: dict[type, Callable] = {}


def builds(*op_types: type):
    """Register the decorated function as the builder of the hardware ops ``op_types``."""
    def register(fn):
        for op_type in op_types:
            if not (isinstance(op_type, type) and issubclass(op_type, StreamOp)):
                raise TypeError(f"only hardware ops (StreamOp subclasses) are built, not {op_type!r}")
            if op_type in BUILDERS:
                raise ValueError(f"{op_type.__name__} is already built by {BUILDERS[op_type].__qualname__}")
            BUILDERS[op_type] = fn
        return fn
    return register


def builder(op_type: type) -> Callable | None:
    """The builder of ``op_type``: its own, or that of the nearest base class with one (None: none)."""
    return next((BUILDERS[cls] for cls in op_type.__mro__ if cls in BUILDERS), None)


def _builder_of(op, join: bool) -> Callable:
    name = type(op).__name__
    if isinstance(op, JoinOp) != join:
        raise TypeError(f"{name} is built by its block (join_hardware), not as a stage" if not join
                        else f"{name} is a stage (stage_hardware), not the join of a block")
    fn = builder(type(op))
    if fn is None:
        raise NotImplementedError(f"no hardware builds {name}: register a builder with @builds({name}) in the "
                                  f"bnn_hw.hdl module of its component (docs/adding-an-op.md)")
    return fn


def stage_hardware(op, in_type, fold):
    """The Amaranth component of the stage ``op`` on ``in_type`` with ``fold`` (stream ports ``i``
    and ``o``, words as the op's ``word_bits`` says)."""
    return _builder_of(op, join=False)(op, in_type, fold)


def join_hardware(op, body_bits: int, shortcut_bits: int, fold):
    """The joining component of a :class:`~bnn_hw.hdl.ForkJoin` for the join ``op``, whose body gives
    ``body_bits`` per word and whose shortcut carries ``shortcut_bits``."""
    return _builder_of(op, join=True)(op, body_bits, shortcut_bits, fold)
