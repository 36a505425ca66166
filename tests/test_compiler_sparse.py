"""Sparse {alpha, beta} layers through the compiler: reference == PyTorch eval on random models (any
alpha and beta on the grid, sparsity from 1% to 50%, negative and zero BatchNorm scales, multi-slice
signs, odd sizes), the integer form the hardware computes, unrolled layers, and the one-line errors."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bnn_hw.compiler import compile_model
from bnn_hw.compiler.folding import UNROLLED, apply_folding, parse_folding
from bnn_hw.compiler.ops import BinaryDense, Fold, SparseConv2d, SparseDense
from bnn_hw.compiler.driver import check_fit
from bnn_hw.compiler.quotient_thresholds import quotient_thresholds
from bnn_hw.errors import BnnHwError, FitError, UnsupportedModelError
from conftest import random_mlp, random_sparse_cnn, random_sparse_mlp, torch_scores

#: (tau, phi) in grid steps of 1/16: the ordinary binary layer, a pruned one (alpha = 0), beta < alpha
DOMAINS = [None, (16, 0), (8, 8), (-5, 3), (3, 40)]


@given(seed=st.integers(0, 10_000), features=st.integers(2, 30), hidden=st.lists(st.integers(1, 40), min_size=1,
       max_size=2), slices=st.integers(1, 3), domain=st.sampled_from(DOMAINS), density=st.sampled_from([0.01, 0.1, 0.5]),
       sparse_last=st.booleans())
def test_reference_equals_pytorch_on_random_sparse_mlps(seed, features, hidden, slices, domain, density, sparse_last):
    model = random_sparse_mlp(features, hidden, 4, seed=seed, slices=slices, values=domain,
                              densities=[density] * len(hidden), sparse_last=sparse_last)
    frames = np.random.default_rng(seed).integers(0, 256, (200, features), dtype=np.uint8)
    _, scores = compile_model(model).predict(frames)
    assert np.array_equal(scores, torch_scores(model, frames))


@pytest.mark.parametrize("seed, convs", [
    (0, ((5, 3, 1, 1, -1),)),
    (1, ((4, 3, 2, 1, 1), (3, 2, 1, 0, -1))),
    (2, ((6, 1, 1, 0, 1),)),
])
def test_reference_equals_pytorch_on_random_sparse_cnns(seed, convs):
    model = random_sparse_cnn(image=(2, 7, 6), convs=convs, seed=seed)
    frames = np.random.default_rng(seed).integers(0, 256, (100, 7 * 6 * 2), dtype=np.uint8)
    plan = compile_model(model)
    assert any(isinstance(s.op, SparseConv2d) for s in plan.stages)
    assert np.array_equal(plan.predict(frames)[1], torch_scores(model, frames))


def test_the_rarer_value_is_counted_and_the_common_factor_becomes_a_scale():
    model = random_sparse_mlp(12, [9], 3, thresholds=(), densities=[0.8], values=(16, 48), seed=1)
    plan = compile_model(model)
    op = plan.stages[0].op
    assert isinstance(op, SparseDense)
    # beta = phi + tau = 4, alpha = 2: over their factor 2, beta 2 and alpha 1; 80% beta: alpha counted
    assert (op.alpha, op.beta) == (2, 1)
    assert op.connections < op.mask.size / 2


def test_hardware_form_equals_the_score_comparison():
    rng = np.random.default_rng(3)
    for _ in range(50):
        m, n, k = (int(v) for v in rng.integers(1, 12, 3))
        alpha, beta = (int(v) for v in rng.choice(np.arange(-7, 8), 2, replace=False))
        mask = (rng.random((m, n)) < rng.random()).astype(np.uint8)
        op = SparseDense(mask, alpha, beta)
        t = rng.integers(-op.score_bound - 3, op.score_bound + 3, (m, k))
        op = SparseDense(mask, alpha, beta, t, rng.random(m) < 0.5)
        x = rng.integers(0, 2, (64, n)).astype(np.uint8)
        p0, p1 = op.popcounts(x)
        form = op.hardware_form()
        value = form.a * p0[:, None] + form.d * p1
        bits = (value[:, :, None] >= form.thresholds[None]) != form.invert[None, :, None]
        assert np.array_equal(bits.reshape(64, -1), op.reference(x))
        assert np.array_equal(form.scale * value - form.offsets, op.scores(x))
        for c in range(m):
            lo, hi = form.value_range(n, int(op.counted[c]))
            assert lo <= value[:, c].min() and value[:, c].max() <= hi


@given(a=st.integers(-12, 12), d=st.integers(-70, 70).filter(bool), n=st.integers(1, 40), seed=st.integers(0, 1000))
def test_quotient_thresholds_equal_the_value_comparison(a, d, n, seed):
    """The unrolled sparse unit's rewriting: ``p1 - z_r >= t`` equals ``a p0 + d p1 >= T`` for every
    pair of counts, any sign of ``a`` and ``d``, thresholds below, inside and above the values."""
    bound = abs(a) * n + abs(d) * n
    thresholds = np.random.default_rng(seed).integers(-bound - 3, bound + 4, (3, 2))
    plan = quotient_thresholds(a, d, thresholds, n)
    p0, p1 = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    value = a * p0 + d * p1
    expected = value[..., None, None] >= thresholds
    got = plan.decide(p0, np.repeat(p1[..., None], 3, axis=-1))
    assert np.array_equal(got, expected)
    y, s = plan.division(np.arange(n + 1))
    assert (s >= 0).all() and (s < abs(d)).all() and (y >= 0).all()
    assert set(plan.remainders.ravel()) == set(plan.distinct_remainders) and plan.constant_shared == (a == 0)


def test_unrolled_folding_gives_full_lanes_and_no_weight_memory():
    model = random_sparse_mlp(20, [30, 16], 5, densities=[0.1, 0.2], seed=2)
    plan = compile_model(model, parse_folding("dense1=unrolled,dense4=4x8,dense7=unrolled"))
    stages = {s.name: s for s in plan.stages}
    assert stages["dense1"].fold == Fold(30, 60) and stages["dense1"].unrolled
    assert stages["dense7"].unrolled and isinstance(stages["dense7"].op, BinaryDense)
    assert not stages["dense4"].unrolled
    for name in ("dense1", "dense7"):   # the sparse layer's one block RAM divides its shared count
        assert stages[name].cost.cycles == 1 and stages[name].cost.ebr == (name == "dense1")
        assert stages[name].op.memory_depth(stages[name].in_type, stages[name].fold) == 0
    # an unrolled sparse layer costs by its connections
    sparse = stages["dense1"]
    denser = compile_model(random_sparse_mlp(20, [30, 16], 5, densities=[0.4, 0.2], seed=2),
                           parse_folding("dense1=unrolled")).stages[1]
    assert denser.op.connections > 3 * sparse.op.connections and denser.cost.lut4 > sparse.cost.lut4 + 800
    folded = compile_model(model, {"dense1": Fold(8, 16)}).stages[1]
    assert folded.cost.cycles == 4 * 4 and not folded.unrolled
    assert folded.op.details()["sparse"]["synapses_kept"] == sparse.op.connections


def test_unrolled_in_a_folding_file(tmp_path):
    path = tmp_path / "folding.json"
    path.write_text('{"dense1": "unrolled", "dense4": {"pe": 2, "simd": 3}}')
    assert parse_folding(str(path)) == {"dense1": UNROLLED, "dense4": Fold(2, 3)}


def test_only_dense_layers_unroll():
    model = random_sparse_cnn(seed=0)
    graph = compile_model(model).graph
    with pytest.raises(BnnHwError, match="only dense layers"):
        apply_folding(graph, {"thermometer1": UNROLLED})


def test_a_sparse_score_layer_folds_to_full_lanes_only():
    model = random_sparse_mlp(10, [8], 4, sparse_last=True, seed=3)
    plan = compile_model(model)   # the default folding builds it unrolled
    assert plan.stages[-2].unrolled
    assert plan.stages[-2].latency > 1   # the unrolled unit's pipeline (scores: no thresholds)
    with pytest.raises(UnsupportedModelError, match="built unrolled only"):
        compile_model(model, {"dense4": Fold(2, 4)}).total


def test_alpha_equal_to_beta_is_refused_in_one_line():
    model = random_sparse_mlp(10, [8], 4, seed=3)
    with torch.no_grad():
        model[1].tau.fill_(0.01)     # rounds to 0 on the 1/16 grid
    with pytest.raises(UnsupportedModelError, match="alpha equals beta") as e:
        compile_model(model)
    assert "\n" not in str(e.value) and "layer 1 (SparseBinaryLinear)" in str(e.value)


def test_a_sparse_last_layer_with_real_scores_is_refused():
    model = random_sparse_mlp(10, [8], 4, seed=3)
    model[-1] = random_sparse_mlp(8, [4], 4, thresholds=(), seed=4)[0]   # scores times 1/16
    with pytest.raises(UnsupportedModelError, match="must end with integer scores"):
        compile_model(model)


def test_a_layer_too_large_to_unroll_names_it_and_suggests_folding():
    model = random_sparse_mlp(100, [300], 4, thresholds=(1, 2, 3, 4), densities=[0.5], seed=5)
    plan = compile_model(model, parse_folding("dense1=unrolled"))
    with pytest.raises(FitError, match=r"layer dense1 is unrolled .* too large to unroll on this chip; build it "
                                       r"folded \(--folding dense1=16x64, or --fit\)"):
        check_fit(plan, {"lut4": 24_000, "ff": 24_000, "ebr": 56}, "LFE5U-25F")


def test_unrolled_binary_layers_keep_the_reference():
    model = random_mlp(11, [13, 7], 3, seed=6)
    frames = np.random.default_rng(6).integers(0, 256, (100, 11), dtype=np.uint8)
    plan = compile_model(model, parse_folding("dense1=unrolled,dense4=unrolled,dense7=unrolled"))
    assert all(s.unrolled for s in plan.stages if s.name.startswith("dense"))
    assert np.array_equal(plan.predict(frames)[1], torch_scores(model, frames))
