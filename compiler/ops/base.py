"""The op contract: what every IR op provides, and what every op that exists in hardware provides.

Every op is a frozen dataclass deriving from one of the classes here; deriving registers it (by
class name) in :data:`OPS`, and its module registers how training layers lower to it with
:func:`lowers`. Passes never test an op's type: they call these hooks, or ask the capabilities
declared once below (:class:`Chain`, :class:`FoldRule`, :attr:`Op.real_only`).

- :class:`Op`: every op. Type rule (:meth:`~Op.infer`), NumPy semantics (:meth:`~Op.reference`), and
  its part in streamlining (:attr:`~Op.chain`, :meth:`~Op.fold_chain`, :meth:`~Op.fuse`).
- :class:`StreamOp`: an op that is a hardware stage. Its fold space (:meth:`~StreamOp.lanes`,
  :attr:`~StreamOp.fold_rule`, :meth:`~StreamOp.cheapest_fold`, :meth:`~StreamOp.derived_fold`),
  cycles, memory depth, stream word and vector widths, cost, memory traffic, and how far ahead of its
  outputs it needs / accepts inputs (for shortcut FIFO depths).
- :class:`JoinOp`: a :class:`StreamOp` that joins a fork-join block's body and shortcut.

Signatures are the same on every op: ``in_type`` is the op's (first) input type, ``fold`` a
:class:`Fold`.

Building an op's hardware is not a hook here: the hardware comes after the compiler in the data
flow, so the Amaranth component of a stage (or the joining component of a block) is built by the
function that the module of that component registers for the op's class with
:func:`bnn_hw.hdl.registry.builds` (:func:`~bnn_hw.hdl.registry.stage_hardware`,
:func:`~bnn_hw.hdl.registry.join_hardware`). The structure the compiler plans with (how a unit
slices and banks, what a window generator buffers) is :mod:`bnn_hw.compiler.microarch`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ...intmath import ceil_div

__all__ = ["Fold", "Chain", "FoldRule", "Op", "StreamOp", "JoinOp", "OPS", "LOWERINGS", "lowers", "ceil_div",
           "LANE_CHOICES"]

#: Every op class, by name (filled as op classes are defined).
OPS: dict[str, type] = {}

#: Training layer class -> function lowering one such layer to IR nodes (filled by :func:`lowers`).
LOWERINGS: dict[type, Callable] = {}

#: The lane counts folding searches over (pe, simd, or the values per word of a lane stream).
LANE_CHOICES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def lowers(*layer_types: type):
    """Register the decorated function as the lowering of ``layer_types`` (exact classes) to IR.

    The function is called as ``fn(layer, ctx)`` with a :class:`bnn_hw.compiler.frontend.Lowering`
    context and returns the layer's nodes (a list, possibly empty).
    """
    def register(fn):
        for layer_type in layer_types:
            if layer_type in LOWERINGS:
                raise ValueError(f"{layer_type.__name__} already lowers through {LOWERINGS[layer_type].__qualname__}")
            LOWERINGS[layer_type] = fn
        return fn
    return register


@dataclass(frozen=True)
class Fold:
    """A hardware stage's parallelism: ``pe`` output lanes by ``simd`` input lanes (a lane stream
    takes ``pe`` values per word); ``multipliers``: a multiply-accumulate unit multiplies in DSP
    blocks, one per lane pair (only where the op :attr:`~MatrixStream.multiplies`)."""

    pe: int = 1
    simd: int = 1
    multipliers: bool = False

    def __post_init__(self):
        if not (isinstance(self.pe, int) and isinstance(self.simd, int) and self.pe >= 1 and self.simd >= 1):
            raise ValueError(f"pe and simd must be positive integers, not pe={self.pe!r} simd={self.simd!r}")

    def __str__(self):
        return f"{self.pe}x{self.simd}" + (":dsp" if self.multipliers else "")


class Chain(enum.Enum):
    """An op's part in a real-valued chain that streamlining folds into the layer before it."""

    AFFINE = "affine"      #: a per-channel real op inside the chain (scale, BatchNorm)
    BITS = "bits"          #: ends a chain in bits (a sign): folded into thresholds
    FIXED = "fixed"        #: ends a chain in fixed point (a rounding): folded into a table or levels


class FoldRule(enum.Enum):
    """How the folding search treats a stage."""

    FIXED = "fixed"        #: always ``Fold(1, 1)`` (one pixel or vector per cycle, wiring)
    SEARCHED = "searched"  #: :meth:`StreamOp.cheapest_fold` picks it for a cycle budget
    MATRIX = "matrix"      #: searched too; a matrix-vector unit, the default folding anchors on the largest
    FOLLOWS = "follows"    #: :meth:`StreamOp.derived_fold` takes it from the stage before


class Op:
    """An IR op: a frozen dataclass with a type rule and NumPy semantics.

    Subclasses are registered in :data:`OPS` by class name.
    """

    #: The op exists only before streamlining (real-valued); one left after it cannot be built.
    real_only: ClassVar[bool] = False
    #: Its part in a foldable real-valued chain, or None.
    chain: ClassVar[Chain | None] = None
    #: How error messages name it to users (the training layer), where that differs from the class.
    layer_name: ClassVar[str] = ""

    def __init_subclass__(cls, abstract: bool = False, **kwargs):
        """Register ``cls`` in :data:`OPS`, unless it is a partial implementation for others to derive
        from (``class X(StreamOp, abstract=True)``)."""
        super().__init_subclass__(**kwargs)
        if not abstract:
            if OPS.get(cls.__name__, cls) is not cls:
                raise TypeError(f"two ops are named {cls.__name__}")
            OPS[cls.__name__] = cls

    def infer(self, inputs):
        """The output :class:`~bnn_hw.compiler.ir.TensorType` for the input types (a tuple), or
        :class:`ValueError` saying why they are wrong."""
        raise NotImplementedError(f"{type(self).__name__}.infer")

    def reference(self, *inputs: np.ndarray) -> np.ndarray:
        """The exact output for a batch of inputs (first axis the batch), as the hardware computes it."""
        raise NotImplementedError(f"{type(self).__name__}.reference")

    def fuse(self, in_type, after: "Op") -> "Op | None":
        """Streamlining: one op computing this op and then ``after`` (the only reader of its value),
        or None to keep them apart. Ops that are built only as part of others (gate layers and their
        group sums, fused into a gate network) say so in :attr:`needs_fusion`."""
        return None

    #: Why the op cannot be built by itself (a one-line reason), "" if it can: streamlining refuses a
    #: graph where such an op is left unfused.
    needs_fusion: ClassVar[str] = ""

    def fold_chain(self, in_type, chain: list | None, name: str):
        """Streamlining: fold the real-valued ``chain`` of ops after this one (None: no chain follows)
        into ``(op, after)``: this op's replacement and the node to put in the chain's place (None:
        the replacement's output is the chain's). None leaves both as they are; ``name`` is the
        chain's last node, for error messages."""
        return None


class StreamOp(Op, abstract=True):
    """An op that is a hardware stage: it streams words in and out through :mod:`amaranth.lib.stream`."""

    fold_rule: ClassVar[FoldRule] = FoldRule.FIXED

    # -- folding --------------------------------------------------------------------------------

    def lanes(self, in_type) -> tuple[int, int]:
        """The most ``(pe, simd)`` lanes that are useful (more would idle)."""
        return 1, 1

    def cheapest_fold(self, in_type, budget: int) -> Fold:
        """The cheapest fold within ``budget`` cycles per frame (of :attr:`FoldRule.SEARCHED` ops)."""
        return Fold(1, 1)

    def derived_fold(self, in_type, producer_fold: Fold, producer_cycles: int) -> Fold:
        """The fold of a :attr:`FoldRule.FOLLOWS` op, from its producer's fold and cycles per frame."""
        raise NotImplementedError(f"{type(self).__name__} does not follow its producer's folding")

    @property
    def weight_count(self) -> int:
        """Weights it holds (the default folding anchors on the layer with the most)."""
        return 0

    def cycles(self, in_type, fold: Fold) -> int:
        """Cycles per frame."""
        raise NotImplementedError(f"{type(self).__name__}.cycles")

    def latency(self, in_type, fold: Fold) -> int:
        """Cycles from its first input word of a frame to its first output word of that frame
        (default: its cycles per frame, a stage that takes the frame before it answers)."""
        return self.cycles(in_type, fold)

    def memory_depth(self, in_type, fold: Fold) -> int:
        """Words of its deepest parameter memory (weight ROM), 0 if none."""
        return 0

    # -- streams --------------------------------------------------------------------------------

    def word_bits(self, in_type, fold: Fold) -> tuple[int, int]:
        """Bits of its input and output stream words."""
        raise NotImplementedError(f"{type(self).__name__}.word_bits")

    def in_vector_bits(self, in_type) -> int:
        """Bits of one input vector (image stages: one pixel's channels), padded to whole words."""
        return in_type.bits

    def out_vector_bits(self, out_type) -> int:
        """Bits of one output vector."""
        return out_type.bits

    def inputs_needed(self, in_type, n: int) -> int:
        """Input vectors it must have taken before it gives its ``n``-th output vector."""
        return n

    def inputs_accepted(self, in_type, n: int) -> int:
        """The most input vectors it takes before its ``n``-th output vector (default: two ahead,
        its double-buffered input or output)."""
        return n + 2

    # -- cost, energy ----------------------------------------------------------------------------

    def cost(self, in_type, fold: Fold, block_ram):
        """Estimated :class:`~bnn_hw.compiler.cost.Cost`, its memories counted in ``block_ram`` blocks."""
        raise NotImplementedError(f"{type(self).__name__}.cost")

    def traffic(self, in_type, fold: Fold):
        """Memory traffic and operations per frame (:class:`~bnn_hw.compiler.energy.Traffic`)."""
        from ..energy import Traffic
        return Traffic()

    def details(self) -> dict:
        """What the build report says about this stage beyond the figures every stage has (plain
        data: numbers, strings, dicts of them); none by default."""
        return {}


class JoinOp(StreamOp, abstract=True):
    """The join of a fork-join block: its inputs are the body's result and the shortcut. In hardware it
    is the joining component of the block's :class:`~bnn_hw.hdl.ForkJoin`
    (:func:`bnn_hw.hdl.registry.join_hardware`), not a stage of its own."""

    def vectors_per_frame(self, in_type) -> int:
        """Vectors per frame at the join (pixels of an image, else 1)."""
        raise NotImplementedError(f"{type(self).__name__}.vectors_per_frame")

    def stream_words(self, value_type, fold: Fold) -> tuple[int, int]:
        """``(word, vector)`` bits in which the block carries ``value_type`` (into the fork, out of the
        body and out of the join)."""
        raise NotImplementedError(f"{type(self).__name__}.stream_words")

    def shortcut_vectors(self, in_type) -> int | None:
        """Vectors the shortcut FIFO holds where the join's own rule sets them (a join that takes many
        shortcut vectors per body result), or None: as the body's stages need
        (:func:`~bnn_hw.compiler.blocks.shortcut_depth`)."""
        return None

    def shortcut_traffic(self, bits: int, vectors_per_frame: int):
        """The shortcut FIFO's traffic per frame: ``bits`` written and read."""
        from ..energy import Traffic
        return Traffic(shortcut_bits=bits)
