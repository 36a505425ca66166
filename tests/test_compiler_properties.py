"""Property-based tests (hypothesis) of the contract: the NumPy reference equals PyTorch in eval mode
on random networks of every family, and a smaller sample of them, with random foldings, runs through
the whole Amaranth pipeline under random stalls and equals the reference.

The profile (``tests/conftest.py``) is ``ci`` by default (derandomized, a fixed number of examples);
``HYPOTHESIS_PROFILE=nightly`` draws many more, at random.
"""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnn_hw import nn as bnn
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.io_layout import decode_result, input_words
from bnn_hw.hdl.pipeline import build_pipeline
from bnn_hw.compiler.ops import Fold
from bnn_hw.compiler.ops.base import FoldRule
from conftest import random_bireal, random_boolnet, random_cnn, random_mlp, torch_scores
from stream_testing import stream_through

#: Examples of the RTL properties, a fraction of the profile's (the simulation is slow).
RTL_EXAMPLES = max(3, settings().max_examples // 6)
_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _inputs(model, n: int, seed: int) -> np.ndarray:
    """Random frames as the compiler takes them (pixels where the model starts with a Thermometer)."""
    rng = np.random.default_rng(seed)
    first = model[0]
    if isinstance(first, bnn.ImageInput):
        c, h, w = first.shape
        pixels = isinstance(model[1], (bnn.Thermometer, bnn.PixelConv2d))
        return rng.integers(0, 256 if pixels else 2, (n, h, w, c)).astype(np.uint8)
    if isinstance(first, bnn.Thermometer):
        return rng.integers(0, 256, (n, first_dense(model).in_features // len(first.thresholds))).astype(np.uint8)
    return rng.integers(0, 2, (n, first_dense(model).in_features)).astype(np.uint8)


def first_dense(model):
    return next(m for m in model if isinstance(m, bnn.BinaryLinear))


def assert_reference_equals_pytorch(model, seed: int, n: int = 24):
    x = _inputs(model, n, seed)
    thermometer = isinstance(model[0], bnn.Thermometer) or (isinstance(model[0], bnn.ImageInput)
                                                             and isinstance(model[1], (bnn.Thermometer, bnn.PixelConv2d)))
    expected = torch_scores(model, x if thermometer else 2.0 * x - 1)
    classes, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, expected)
    assert np.array_equal(classes, expected.argmax(1))


# -- strategies ----------------------------------------------------------------------------------

@st.composite
def mlps(draw):
    thresholds = draw(st.sampled_from([(), (128,), (64, 128, 192), (1, 255)]))
    return random_mlp(draw(st.integers(1, 40)), draw(st.lists(st.integers(1, 40), max_size=3)),
                      draw(st.integers(2, 10)), thresholds=thresholds, seed=draw(st.integers(0, 2**16)),
                      scale=draw(st.booleans()), zero_scale_channels=draw(st.integers(0, 2)))


@st.composite
def boolnets(draw):
    slices = draw(st.integers(1, 5))
    return random_boolnet(image=(draw(st.integers(1, 2)), draw(st.integers(3, 7)), draw(st.integers(3, 7))),
                          channels=slices * draw(st.integers(1, 3)), op=draw(st.sampled_from(["xnor", "or"])),
                          slices=slices, kernel=draw(st.sampled_from([1, 3])), seed=draw(st.integers(0, 2**16)),
                          grouped=draw(st.booleans()), concat=draw(st.booleans()), classes=draw(st.integers(2, 5)))


@st.composite
def bireals(draw):
    downsample = draw(st.booleans())
    # the stride-2 body and the pooled branch meet where the image is even (a 4x4 pool's branch needs
    # more input rows than a 3x3 stride-4 body, which the compiler refuses: test_avg_pool_of_any_size)
    h, w = (2 * draw(st.integers(1, 3)) if downsample else draw(st.integers(2, 7)) for _ in range(2))
    bits = draw(st.integers(3, 8))
    return random_bireal(image=(1, h, w), channels=draw(st.integers(1, 6)),
                         blocks=draw(st.integers(0, 2)), frac_bits=draw(st.integers(0, bits - 1)), bits=bits,
                         seed=draw(st.integers(0, 2**16)), padding_mode=draw(st.sampled_from(["constant", "replicate"])),
                         downsample=downsample, weight_bits=draw(st.sampled_from([(4, 2), (3, 0), (6, 5)])),
                         **draw(bnext_joins(downsample)))


@st.composite
def bnext_joins(draw, downsample: bool) -> dict:
    """``random_bireal``'s BNext options: the blocks' joins in turn, squeeze-and-excitation, and (with a
    downsampling block) two convolutions side by side."""
    joins = tuple(draw(st.lists(st.sampled_from(["add", "mix", "product"]), min_size=1, max_size=3)))
    return {"joins": joins, "se": draw(st.booleans()), "concat": downsample and draw(st.booleans())}


@st.composite
def pooled_cnns(draw):
    """CNNs with a non-overlapping max-pool of any size after each convolution."""
    kernel = draw(st.integers(2, 4))
    size = kernel * draw(st.integers(1, 3)) + draw(st.integers(0, kernel - 1))
    return random_cnn(image=(1, size, size), convs=((draw(st.integers(1, 4)), 1, 1, 0, -1, 1),), pools=(0,),
                      pool_kernel=kernel, seed=draw(st.integers(0, 2**16)))


# -- reference == PyTorch ------------------------------------------------------------------------

@settings(**_SETTINGS)
@given(mlps(), st.integers(0, 2**16))
def test_reference_equals_pytorch_on_random_mlps(model, seed):
    assert_reference_equals_pytorch(model, seed)


@settings(**_SETTINGS)
@given(boolnets(), st.integers(0, 2**16))
def test_reference_equals_pytorch_on_random_boolnet_blocks(model, seed):
    assert_reference_equals_pytorch(model, seed)


@settings(**_SETTINGS)
@given(bireals(), st.integers(0, 2**16))
def test_reference_equals_pytorch_on_random_bireal_blocks(model, seed):
    assert_reference_equals_pytorch(model, seed)


@settings(**_SETTINGS)
@given(pooled_cnns(), st.integers(0, 2**16))
def test_reference_equals_pytorch_with_any_max_pool_size(model, seed):
    assert_reference_equals_pytorch(model, seed)


# -- RTL == reference, random foldings -----------------------------------------------------------

@st.composite
def foldings(draw, model):
    """``(model, folding)``: overrides for every searched stage of ``model``, within its lanes."""
    plan = compile_model(model)
    folding = {}
    for stage in plan.stages:
        if stage.op.fold_rule in (FoldRule.SEARCHED, FoldRule.MATRIX):
            max_pe, max_simd = stage.op.lanes(stage.in_type)
            folding[stage.name] = Fold(draw(st.integers(1, max_pe)), draw(st.integers(1, max_simd)))
    return model, folding


def _networks(draw):
    family = draw(st.sampled_from(["mlp", "boolnet", "bireal"]))
    if family == "mlp":
        return random_mlp(draw(st.integers(1, 12)), draw(st.lists(st.integers(1, 12), max_size=2)), draw(st.integers(2, 5)),
                          thresholds=draw(st.sampled_from([(), (128,)])), seed=draw(st.integers(0, 2**16)))
    if family == "boolnet":
        slices = draw(st.integers(1, 3))
        return random_boolnet(image=(1, 4, 3), channels=2 * slices, slices=slices, op=draw(st.sampled_from(["xnor", "or"])),
                              seed=draw(st.integers(0, 2**16)), grouped=draw(st.booleans()), concat=draw(st.booleans()))
    downsample = draw(st.booleans())
    return random_bireal(image=(1, 4, 4), channels=draw(st.integers(1, 3)), blocks=1, downsample=downsample,
                         seed=draw(st.integers(0, 2**16)), **draw(bnext_joins(downsample)))


@st.composite
def folded_networks(draw):
    return draw(foldings(_networks(draw)))


@settings(max_examples=RTL_EXAMPLES, **_SETTINGS)
@given(folded_networks(), st.sampled_from([0.0, 0.4]))
def test_pipeline_equals_reference_with_random_foldings(network, stall):
    model, folding = network
    plan = compile_model(model, folding)
    frames = _inputs(model, 2, 5)
    classes, scores = plan.predict(frames)
    words = [w for f in frames for w in input_words(plan, f)]
    got = [decode_result(plan, w) for w in stream_through(build_pipeline(plan), words, len(frames), stall=stall)]
    assert [g[0] for g in got] == list(classes)
    assert all(np.array_equal(g[1], s) for g, s in zip(got, scores))


def test_multi_slice_sign_of_any_slice_count_is_pytorch_s():
    """K offsets make K bits per channel, each ``x - offset >= 0`` in float32 as PyTorch computes it."""
    from bnn_hw.compiler.ops import Sign
    x = torch.randn(50, 3) * 2
    for offsets in ((0.0,), (-1.0, 1.0), (-0.7, -0.1, 0.3), (-2.0, -1.0, 0.0, 1.0, 2.0)):
        expected = bnn.MultiSliceSign(offsets).eval()(x).numpy()
        assert np.array_equal(Sign(offsets).reference(x.numpy()), (expected > 0).astype(np.uint8))


@settings(**_SETTINGS)
@given(st.sampled_from([2, 4, 8]), st.integers(1, 3), st.integers(0, 7), st.integers(0, 2**16))
def test_avg_pool_of_any_size_is_pytorch_s(kernel, rows, extra, seed):
    """Fixed-point values ``k / 2**frac`` average-pooled by PyTorch are the op's window sums on a
    grid ``kernel**2`` times finer, for every power-of-two kernel (rows and columns past the last
    whole window dropped)."""
    from bnn_hw.compiler.ir import Kind, TensorType
    from bnn_hw.compiler.ops import AvgPool
    rng = np.random.default_rng(seed)
    h, w, frac = kernel * rows + extra % kernel, kernel * rows, 3
    x = rng.integers(-64, 64, (4, h, w, 2))
    op = AvgPool(kernel)
    out = op.infer((TensorType((h, w, 2), Kind.INT, 7, frac),))
    mean = torch.nn.functional.avg_pool2d(torch.tensor(x / 2 ** frac, dtype=torch.float32).permute(0, 3, 1, 2), kernel)
    assert np.array_equal(op.reference(x) / 2.0 ** out.frac, mean.permute(0, 2, 3, 1).numpy())
