"""The op contract, checked on every registered op: each hardware op's component (built by the
builder its hdl module registers, :mod:`bnn_hw.hdl.registry`) equals its NumPy reference under random
producer and consumer stalls on random shapes; every training layer lowers through a registered
function; registries are complete and consistent.

Streams follow one convention for every op (``docs/conventions.md``): a value streams as vectors
(:meth:`~bnn_hw.compiler.ops.base.StreamOp.in_vector_bits`: an image's pixels, else the whole value),
each vector's elements packed LSB first (two's complement for integers) and cut into words of
:meth:`~bnn_hw.compiler.ops.base.StreamOp.word_bits`, the last word of each vector zero padded.
"""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module

from bnn_hw import nn as bnn
from bnn_hw.compiler.ir import Kind
from bnn_hw.compiler.microarch import index_width
from bnn_hw.compiler.ops import LOWERINGS, OPS, ArgMax
from bnn_hw.compiler.ops.base import FoldRule, JoinOp, Op, StreamOp, ceil_div
from bnn_hw.hdl.registry import BUILDERS, builder, join_hardware, stage_hardware
from op_examples import EXAMPLES
from stream_testing import pack_lanes, run, receive, send, unpack_lanes

HARDWARE_OPS = sorted(name for name, cls in OPS.items() if issubclass(cls, StreamOp))
SEEDS = range(4)
FRAMES = 6


def encode(values: np.ndarray, value_type, word_bits: int, vector_bits: int) -> list[int]:
    """Frames of ``value_type`` as stream words."""
    width = value_type.width
    per_vector = vector_bits // width
    words = []
    for vector in np.asarray(values).reshape(-1, per_vector):
        packed = pack_lanes(vector, width)
        words += [(packed >> (k * word_bits)) & ((1 << word_bits) - 1) for k in range(ceil_div(vector_bits, word_bits))]
    return words


def decode(words: list[int], value_type, word_bits: int, vector_bits: int, frames: int) -> np.ndarray:
    """Inverse of :func:`encode` for ``frames`` frames."""
    per_word = ceil_div(vector_bits, word_bits)
    vectors = []
    for k in range(0, len(words), per_word):
        packed = sum(w << (j * word_bits) for j, w in enumerate(words[k:k + per_word]))
        vectors.append(unpack_lanes(packed, value_type.width, vector_bits // value_type.width,
                                    signed=value_type.kind is Kind.INT))
    return np.array(vectors).reshape((frames,) + value_type.shape)


def outputs_of(op, in_type, words, out_type, word_bits, vector_bits) -> np.ndarray:
    """The values in the output ``words`` (padding ignored); the argmax head's words hold the class
    index in their low bits (every score above it, checked by ``test_hdl_argmax``)."""
    if isinstance(op, ArgMax):
        return np.array(words)[:, None] & ((1 << index_width(in_type.size)) - 1)
    return decode(words, out_type, word_bits, vector_bits, FRAMES)


class _Clocked(Elaboratable):
    """``dut`` with a ``sync`` domain of its own, so that a purely combinational stage (wiring) can
    be simulated like the others."""

    def __init__(self, dut):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain()
        m.submodules.dut = self.dut
        return m


def stream_join(dut, body_words, shortcut_words, count, stall, seed):
    got = []

    async def body(ctx):
        await send(ctx, dut.a, body_words, np.random.default_rng(seed), stall)

    async def shortcut(ctx):
        await send(ctx, dut.b, shortcut_words, np.random.default_rng(seed + 1), stall)

    async def consumer(ctx):
        got.extend(await receive(ctx, dut.o, count, np.random.default_rng(seed + 2), stall))

    run(_Clocked(dut), body, shortcut, consumer)
    return got


def stream_stage(dut, words, count, stall, seed):
    got = []

    async def producer(ctx):
        await send(ctx, dut.i, words, np.random.default_rng(seed), stall)

    async def consumer(ctx):
        got.extend(await receive(ctx, dut.o, count, np.random.default_rng(seed + 1), stall))

    run(_Clocked(dut), producer, consumer)
    return got


@pytest.mark.parametrize("name", HARDWARE_OPS)
@pytest.mark.parametrize("seed", SEEDS)
def test_hardware_equals_reference_under_stalls(name, seed):
    assert name in EXAMPLES, f"add a random {name} to tests/op_examples.py"
    rng = np.random.default_rng(seed)
    example = EXAMPLES[name](rng)
    op, in_types, fold = example
    out_type = op.infer(in_types)
    inputs = example.inputs(rng, FRAMES)
    outputs = op.reference(*inputs)
    stall = 0.3 if seed % 2 else 0.0
    if isinstance(op, JoinOp):
        words = [op.stream_words(t, fold) for t in in_types]
        dut = join_hardware(op, words[0][0], words[1][0], fold)
        out_words, out_vector = op.stream_words(out_type, fold)
        streams = [encode(x, t, *w) for x, t, w in zip(inputs, in_types, words)]
        count = len(encode(outputs, out_type, out_words, out_vector))
        got = stream_join(dut, *streams, count, stall, seed)
    else:
        in_words, out_words = op.word_bits(in_types[0], fold)
        out_vector = op.out_vector_bits(out_type)
        dut = stage_hardware(op, in_types[0], fold)
        stream = encode(inputs[0], in_types[0], in_words, op.in_vector_bits(in_types[0]))
        count = FRAMES if isinstance(op, ArgMax) else len(encode(outputs, out_type, out_words, out_vector))
        got = stream_stage(dut, stream, count, stall, seed)
    values = outputs_of(op, in_types[0], got, out_type, out_words, out_vector)
    assert (values == outputs).all(), f"{op!r} with fold {fold} on {in_types}"
    if out_type.kind is Kind.BITS:   # bit vectors leave a stage with zero padding (lanes: don't care)
        assert got == encode(outputs, out_type, out_words, out_vector), f"{op!r}: padding bits not zero"


@pytest.mark.parametrize("name", HARDWARE_OPS)
def test_cycles_and_cost_agree(name):
    """An op's cost counts the cycles it says it takes, and its fold is within its lanes."""
    from bnn_hw.boards.family import DP16KD, SB_RAM40_4K
    from bnn_hw.compiler.cost import GENERIC_BLOCK_RAM
    op, in_types, fold = EXAMPLES[name](np.random.default_rng(7))
    for block_ram in (GENERIC_BLOCK_RAM, DP16KD, SB_RAM40_4K):
        assert op.cost(in_types[0], fold, block_ram).cycles == op.cycles(in_types[0], fold)
    max_pe, max_simd = op.lanes(in_types[0])
    if op.fold_rule in (FoldRule.SEARCHED, FoldRule.MATRIX):
        assert fold.pe <= max_pe and fold.simd <= max_simd


def test_every_op_derives_from_the_contract():
    for name, cls in OPS.items():
        assert issubclass(cls, Op) and cls.__name__ == name
        assert not hasattr(cls, "hardware") and not hasattr(cls, "join_hardware"), \
            f"{name}: hardware is built by the hdl module of its component (@builds), not by an op hook"


def test_every_hardware_op_has_a_builder():
    """Every registered StreamOp and JoinOp is built by a builder an hdl module registers, and only
    registered ops are."""
    missing = [name for name in HARDWARE_OPS if builder(OPS[name]) is None]
    assert not missing, f"ops without hardware (register a builder with @builds in their hdl module): {missing}"
    assert all(OPS.get(cls.__name__) is cls for cls in BUILDERS), "a builder for an op that is not registered"


def test_a_missing_or_misused_builder_is_a_clear_error():
    from dataclasses import dataclass

    from bnn_hw.compiler.ops import Concat, Scale
    from bnn_hw.hdl.registry import builds

    @dataclass(frozen=True)
    class Unbuilt(StreamOp, abstract=True):
        pass

    with pytest.raises(NotImplementedError,
                       match=r"no hardware builds Unbuilt: register a builder with @builds\(Unbuilt\)"):
        stage_hardware(Unbuilt(), None, None)
    with pytest.raises(TypeError, match="built by its block"):
        stage_hardware(Concat(4), None, None)
    with pytest.raises(TypeError, match="is a stage"):
        join_hardware(ArgMax(), 1, 1, None)
    with pytest.raises(TypeError, match="only hardware ops"):
        builds(Scale)(lambda op, in_type, fold: None)
    with pytest.raises(ValueError, match="already built"):
        builds(ArgMax)(lambda op, in_type, fold: None)


def test_every_layer_lowers_through_a_registered_function():
    """The model file's layer list and the frontend's lowerings name the same layers."""
    assert set(LOWERINGS) == {kind.cls for kind in bnn.LAYER_TYPES.values()}


def test_eval_mode_no_ops_vanish():
    """Dropout and Identity, often left in trained models, compile to the network without them."""
    import torch

    import bnn_hw
    from bnn_hw.compiler import compile_model
    from conftest import random_mlp

    model = random_mlp(20, [12], 4, seed=3)
    layers = list(model)
    padded = torch.nn.Sequential(layers[0], torch.nn.Dropout(0.3), *layers[1:3], torch.nn.Identity(), *layers[3:])
    x = np.random.default_rng(0).integers(0, 2, (50, 20))
    plain, noisy = compile_model(model), compile_model(padded.eval())
    assert [s.name for s in noisy.stages] != [] and len(noisy.stages) == len(plain.stages)
    assert all((a == b).all() for a, b in zip(plain.predict(x), noisy.predict(x)))
    with torch.no_grad():
        torch_scores = padded.eval()(torch.tensor(2.0 * x - 1, dtype=torch.float32)).numpy()
    assert (noisy.predict(x)[1] == torch_scores).all()


def test_an_op_name_is_registered_once():
    from dataclasses import dataclass

    with pytest.raises(TypeError, match="two ops"):
        @dataclass(frozen=True)
        class BinaryDense(Op):  # noqa: F811 (the clash is the point)
            pass
