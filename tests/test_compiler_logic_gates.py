"""Logic-gate networks in the compiler: netlist simplification and bit-sliced evaluation, the reference
against PyTorch, the unrolled pipeline against the reference (stalls, foldings, one frame per cycle),
and the models it refuses."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bnn_hw import nn as bnn
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.folding import parse_folding
from bnn_hw.compiler.gates import (CONSTANT, FUNCTIONS, Netlist, count_groups, layered_netlist, pack_frames, simplify,
                                   truth_table, unpack_frames)
from bnn_hw.compiler.io_layout import decode_result, input_words
from bnn_hw.compiler.ops import GateNetwork
from bnn_hw.errors import BnnHwError, UnsupportedModelError
from bnn_hw.hdl.pipeline import build_pipeline
from conftest import random_logic, random_logic_cnn, torch_scores
from stream_testing import stream_through


def _direct(inputs: np.ndarray, layers) -> np.ndarray:
    """Layer by layer with the truth-table formula: the definition the netlist must meet."""
    v = inputs.astype(np.int64)
    for a, b, code in layers:
        v = (np.asarray(code, np.int64)[None, :] >> (2 * (1 - v[:, a]) + (1 - v[:, b]))) & 1
    return v.astype(np.uint8)


def _random_layers(rng, inputs: int, depth: int, width: int = 20):
    layers, n = [], inputs
    for _ in range(depth):
        g = int(rng.integers(1, width))
        layers.append((rng.integers(0, n, g), rng.integers(0, n, g), rng.integers(0, 16, g)))
        n = g
    return layers


def test_function_codes_are_truth_tables():
    assert FUNCTIONS[1] == "and" and truth_table(1) == (0, 0, 0, 1)
    assert FUNCTIONS[6] == "xor" and truth_table(6) == (0, 1, 1, 0)
    assert FUNCTIONS[7] == "or" and truth_table(7) == (0, 1, 1, 1)
    assert FUNCTIONS[14] == "nand" and truth_table(14) == (1, 1, 1, 0)
    assert [truth_table(c) for c in range(16)] == sorted({truth_table(c) for c in range(16)})


@pytest.mark.parametrize("seed", range(30))
def test_netlist_and_its_simplification_compute_the_layers(seed):
    rng = np.random.default_rng(seed)
    inputs = int(rng.integers(1, 12))
    layers = _random_layers(rng, inputs, int(rng.integers(1, 6)))
    frames = int(rng.integers(1, 200))                          # not a multiple of 64 words
    x = rng.integers(0, 2, (frames, inputs)).astype(np.uint8)
    net = layered_netlist(inputs, layers)
    want = _direct(x, layers)
    assert np.array_equal(net(x), want)
    small = simplify(net)
    assert np.array_equal(small(x), want)
    assert small.gates <= net.gates
    # what is left is real two-input logic: no constants, wires or inverters, f(0, 0) = 0
    assert set(small.code.tolist()) <= {1, 2, 4, 6, 7}
    assert (small.a < small.b).all()


def test_simplify_removes_constant_pass_through_duplicate_and_dead_gates():
    # inputs 0, 1. Layer 1: a AND b, the same again, NOT a, constant 1, x0 XOR x0 (a constant), b
    layers = [(np.array([0, 0, 0, 0, 0, 1]), np.array([1, 1, 1, 1, 0, 1]), np.array([1, 1, 12, 15, 6, 5])),
              # layer 2: (and) OR (and) = and; (NOT a) AND true = NOT a; (xor-const) OR b = b; dead AND
              (np.array([0, 2, 4, 0]), np.array([1, 3, 5, 2]), np.array([7, 1, 7, 1]))]
    net = layered_netlist(2, layers)
    small = simplify(net.__class__(net.inputs, net.a, net.b, net.code, net.outputs[:3], net.inverted[:3]))
    assert small.gates == 1 and FUNCTIONS[small.code[0]] == "and"
    assert small.outputs.tolist() == [2, 0, 1] and small.inverted.tolist() == [0, 1, 0]
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.uint8)
    assert np.array_equal(small(x), _direct(x, layers)[:, :3])


def test_constant_outputs_and_inverted_outputs():
    net = Netlist(1, [], [], [], [CONSTANT, CONSTANT, 0], [0, 1, 1])
    assert net(np.array([[0], [1]], np.uint8)).tolist() == [[0, 1, 1], [0, 1, 0]]


def test_bit_slicing_round_trips():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (130, 7)).astype(np.uint8)
    words = pack_frames(bits)
    assert words.shape == (7, 3) and words.dtype == np.uint64
    assert np.array_equal(unpack_frames(words, 130), bits)


@pytest.mark.parametrize("frames, groups, size", [(1, 1, 1), (70, 3, 5), (200, 10, 33), (64, 2, 64)])
def test_group_counts_of_bit_sliced_rows(frames, groups, size):
    bits = np.random.default_rng(size).integers(0, 2, (frames, groups * size)).astype(np.uint8)
    want = bits.reshape(frames, groups, size).sum(-1)
    assert np.array_equal(count_groups(pack_frames(bits), groups, frames), want)


def test_netlist_rejects_gates_that_read_ahead_and_bad_codes():
    with pytest.raises(ValueError, match="only the inputs and the gates before"):
        Netlist(2, [2], [0], [1], [2], [0])
    with pytest.raises(ValueError, match="0..15"):
        Netlist(2, [0], [1], [16], [2], [0])
    with pytest.raises(ValueError, match="only 3 outputs"):
        layered_netlist(3, [(np.array([0]), np.array([3]), np.array([1]))])


@st.composite
def logic_models(draw):
    thresholds = draw(st.sampled_from([(), (128,), (64, 128, 192)]))
    classes = draw(st.integers(1, 5))
    gates = draw(st.lists(st.integers(1, 40), max_size=3)) + [classes * draw(st.integers(1, 8))]
    return random_logic(draw(st.integers(1, 20)), gates, classes, thresholds=thresholds,
                        candidates=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2**16)))


def _inputs(model, n, seed):
    rng = np.random.default_rng(seed)
    first = model[0]
    if isinstance(first, bnn.Thermometer):
        return rng.integers(0, 256, (n, model[1].in_bits // len(first.thresholds))).astype(np.uint8), False
    return rng.integers(0, 2, (n, first.in_bits)).astype(np.uint8), True


@settings(deadline=None)
@given(logic_models(), st.integers(0, 1000))
def test_reference_equals_pytorch_on_random_logic_networks(model, seed):
    x, bits = _inputs(model, 64, seed)
    expected = torch_scores(model, 2.0 * x - 1 if bits else x)
    classes, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, expected)
    assert np.array_equal(classes, expected.argmax(1))


@pytest.mark.parametrize("seed, wide, levels, stall", [(0, False, 2, 0.0), (1, True, 1, 0.4), (2, True, 3, 0.0),
                                                        (3, False, 4, 0.5)])
def test_pipeline_equals_reference_under_stalls(seed, wide, levels, stall):
    model = random_logic(12, (30, 24, 20), 4, candidates=2, seed=seed)
    folding = {"logic1": f"4x{levels}"} if not wide else {"thermometer0": "1x12", "logic1": f"4x{levels}"}
    plan = compile_model(model, parse_folding(",".join(f"{k}={v}" for k, v in folding.items())))
    frames, _ = _inputs(model, 12, seed)
    classes, scores = plan.predict(frames)
    words = [w for f in frames for w in input_words(plan, f)]
    got = [decode_result(plan, w) for w in stream_through(build_pipeline(plan), words, len(frames), stall=stall)]
    assert [g[0] for g in got] == list(classes)
    assert all(np.array_equal(g[1], s) for g, s in zip(got, scores))


def test_wide_input_gives_one_frame_per_cycle():
    model = random_logic(16, (40, 30), 5, seed=3)
    plan = compile_model(model, parse_folding("thermometer0=1x16"))
    assert plan.total.cycles == 1
    frames, _ = _inputs(model, 40, 0)
    words = [w for f in frames for w in input_words(plan, f)]
    assert len(words) == len(frames)
    stamps = []
    stream_through(build_pipeline(plan), words, len(frames), stamps=stamps)
    assert stamps[-1] - stamps[0] == len(frames) - 1          # one result every cycle


def test_the_network_is_one_stage_and_reports_its_simplification():
    model = random_logic(10, (50, 12), 3, seed=1)
    plan = compile_model(model)
    (network,) = [n.op for n in plan.graph.nodes if isinstance(n.op, GateNetwork)]
    details = network.details()
    assert details["gates_before"] == 62 and details["gates"] == network.netlist.gates < 62
    counts = [tuple(map(int, f.split("->"))) for f in details["gates_by_function_before_after"].values()]
    assert sum(before for before, _ in counts) == 62 and sum(after for _, after in counts) == network.netlist.gates


@st.composite
def logic_cnns(draw):
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(4, 9)), draw(st.integers(4, 9))
    convs = [(draw(st.integers(1, 6)), draw(st.sampled_from([1, 2, 3])), draw(st.integers(1, 3)),
              draw(st.integers(1, 2)), draw(st.integers(0, 1)))]
    pool = draw(st.sampled_from([0, 2]))
    return random_logic_cnn((c, h, w), convs, pool, draw(st.lists(st.integers(1, 20), max_size=1)),
                            draw(st.integers(1, 4)), thresholds=draw(st.sampled_from([(), (100, 200)])),
                            candidates=draw(st.integers(1, 2)), seed=draw(st.integers(0, 2**16)))


def _images(model, n, seed):
    c, h, w = model[0].shape
    pixels = isinstance(model[1], bnn.Thermometer)
    return np.random.default_rng(seed).integers(0, 256 if pixels else 2, (n, h, w, c)).astype(np.uint8), pixels


@settings(deadline=None)
@given(logic_cnns(), st.integers(0, 1000))
def test_reference_equals_pytorch_on_random_logic_cnns(model, seed):
    x, pixels = _images(model, 16, seed)
    expected = torch_scores(model, x if pixels else 2.0 * x - 1)
    classes, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, expected)
    assert np.array_equal(classes, expected.argmax(1))


@pytest.mark.parametrize("seed, stall", [(0, 0.0), (1, 0.4)])
def test_logic_cnn_pipeline_equals_reference_under_stalls(seed, stall):
    model = random_logic_cnn((1, 7, 6), ((5, 3, 2, 1, 1),), 2, (16,), 3, candidates=2, seed=seed)
    plan = compile_model(model)
    frames, _ = _images(model, 3, seed)
    classes, scores = plan.predict(frames)
    words = [w for f in frames for w in input_words(plan, f)]
    got = [decode_result(plan, w) for w in stream_through(build_pipeline(plan), words, len(frames), stall=stall)]
    assert [g[0] for g in got] == list(classes)
    assert all(np.array_equal(g[1], s) for g, s in zip(got, scores))


@pytest.mark.parametrize("model, message", [
    (torch.nn.Sequential(bnn.LogicLayer(8, 6), bnn.BinaryLinear(6, 3)).eval(),
     "logic0: a LogicLayer's bits go only to another LogicLayer or to a GroupSum"),
    (torch.nn.Sequential(bnn.BinaryLinear(8, 6), torch.nn.BatchNorm1d(6), bnn.Sign(), bnn.GroupSum(3)).eval(),
     "groupsum3: a GroupSum counts the bits of logic-gate layers"),
    (torch.nn.Sequential(bnn.LogicLayer(8, 6), bnn.GroupSum(4)).eval(), "layer 1 .*cannot split 6 bits into 4"),
    (torch.nn.Sequential(bnn.LogicLayer(8, 6), bnn.LogicLayer(5, 4), bnn.GroupSum(2)).eval(),
     "layer 1 \\(LogicLayer\\): expects 5 input bits, but the layer before gives 6"),
    (torch.nn.Sequential(bnn.ImageInput(1, 4, 4), bnn.LogicConv2d(2, 4, 3), torch.nn.Flatten(), bnn.LogicLayer(16, 4),
                         bnn.GroupSum(2)).eval(), "layer 1 \\(LogicConv2d\\): takes a bit image of 2 channels"),
    (torch.nn.Sequential(bnn.ImageInput(1, 4, 4), bnn.LogicConv2d(1, 4, 3), bnn.LogicLayer(16, 4),
                         bnn.GroupSum(2)).eval(), "a LogicLayer after an image needs a Flatten"),
])
def test_models_it_refuses_say_why_in_one_line(model, message):
    with pytest.raises(UnsupportedModelError, match=message) as e:
        compile_model(model)
    assert "\n" not in str(e.value)


def test_a_folding_that_splits_the_scores_is_refused():
    with pytest.raises(BnnHwError, match="gives all its 3 scores in one word"):
        compile_model(random_logic(6, (12,), 3), parse_folding("logic1=1x2")).stages


def test_a_uart_build_refuses_input_words_the_protocol_cannot_describe():
    from bnn_hw.compiler.io_layout import plan_info
    plan = compile_model(random_logic(300, (20,), 2, thresholds=(128,)), parse_folding("thermometer0=1x300"))
    with pytest.raises(BnnHwError, match="at most 255 bytes, but this folding's input words are 300 bytes"):
        plan_info(plan)


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_a_whole_frame_assembled_from_narrow_words(stall):
    """192 pixels, 16 a word, 3 bits each: the 576-bit frame is assembled by a wide deserialiser."""
    model = random_logic(192, (40, 24), 4, seed=5)
    plan = compile_model(model)
    assert plan.stages[1].gearbox == (576, 48, 576, 576)
    frames, _ = _inputs(model, 6, 1)
    classes, scores = plan.predict(frames)
    words = [w for f in frames for w in input_words(plan, f)]
    got = [decode_result(plan, w) for w in stream_through(build_pipeline(plan), words, len(frames), stall=stall)]
    assert [g[0] for g in got] == list(classes)
    assert all(np.array_equal(g[1], s) for g, s in zip(got, scores))
