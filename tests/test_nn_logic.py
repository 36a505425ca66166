"""Logic-gate layers (LogicLayer, LogicConv2d, GroupSum): eval mode is exactly the netlist the compiler
reads (checked against NumPy), the relaxed training form is the functions' multilinear extension,
the model file keeps them exactly and rejects bad files in one line, and training ends with every
logic layer frozen."""

import numpy as np
import pytest
import torch
from torch import nn

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.errors import ModelFileError
from bnn_hw.training import LogicSchedule, accuracy, discretize_step, freeze_deadlines, redraw_step, train


def _bits(shape, seed=0) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).float() * 2 - 1


def _f(code, a, b):
    """The function codes' definition, on NumPy bit arrays."""
    return (code >> (2 * (1 - a) + (1 - b))) & 1


def _every_code(layer: bnn.LogicLayer, seed=0):
    """Logits whose argmax gives gate g function g % 16, in candidate g % candidates."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=g))
        for gate in range(layer.gates):
            layer.logits[gate, gate % layer.candidates, gate % 16] = 10.0


def test_function_codes_are_difflogics_order():
    names = {0: "false", 1: "a and b", 2: "a and not b", 3: "a", 4: "not a and b", 5: "b", 6: "a xor b",
             7: "a or b", 8: "a nor b", 9: "a xnor b", 10: "not b", 11: "a or not b", 12: "not a",
             13: "not a or b", 14: "a nand b", 15: "true"}
    assert dict(enumerate(bnn.GATE_FUNCTIONS)) == names
    ops = {1: lambda a, b: a & b, 6: lambda a, b: a ^ b, 7: lambda a, b: a | b, 14: lambda a, b: 1 - (a & b),
           3: lambda a, b: a, 10: lambda a, b: 1 - b, 0: lambda a, b: 0, 15: lambda a, b: 1}
    for code, op in ops.items():
        assert bnn.gate_truth_table(code) == tuple(op(a, b) for a in (0, 1) for b in (0, 1))


def test_logic_layer_eval_is_its_netlist():
    layer = bnn.LogicLayer(7, 80, candidates=3, seed=5)
    _every_code(layer)
    with torch.no_grad():
        layer.connections[:8, :, 1] = layer.connections[:8, :, 0]      # gates fed twice by one input
    a, b, code = layer.netlist()
    assert (a.dtype, b.dtype, code.dtype) == (np.int64, np.int64, np.uint8)
    assert a.shape == b.shape == code.shape == (80,)
    assert code.tolist() == [g % 16 for g in range(80)]
    assert np.array_equal(a[:8], b[:8])
    assert a.tolist() == layer.connections[torch.arange(80), torch.arange(80) % 3, 0].tolist()
    x = _bits((300, 7))
    y = layer.eval()(x)
    assert y.dtype == torch.float32 and set(y.unique().tolist()) <= {-1.0, 1.0}
    bits = (x.numpy() > 0).astype(np.int64)
    expected = _f(code.astype(np.int64), bits[:, a], bits[:, b])
    assert np.array_equal(y.numpy(), expected * 2.0 - 1)


def test_argmax_ties_go_to_the_lowest_slot():
    layer = bnn.LogicLayer(4, 3, candidates=2, seed=0)
    with torch.no_grad():
        layer.logits.zero_()                             # gate 0: every slot ties -> candidate 0, false
        layer.logits[1, :, 9] = 1.0                      # gate 1: XNOR in both candidates -> candidate 0
        layer.logits[2, 1, 6] = layer.logits[2, 1, 7] = 2.0   # gate 2: candidate 1, XOR before OR
    a, b, code = layer.netlist()
    assert code.tolist() == [0, 9, 6]
    assert [a[0], b[0]] == layer.connections[0, 0].tolist()
    assert [a[1], b[1]] == layer.connections[1, 0].tolist()
    assert [a[2], b[2]] == layer.connections[2, 1].tolist()


@pytest.mark.parametrize("candidates", [1, 3])
def test_relaxed_forward_at_one_hot_logits_is_the_boolean_function(candidates):
    layer = bnn.LogicLayer(2, 16 * candidates, candidates=candidates, seed=0).train()
    with torch.no_grad():
        layer.logits.fill_(-1e9)
        layer.connections[:, :, 0], layer.connections[:, :, 1] = 1, 0     # unused candidates read (b, a)
        for gate in range(layer.gates):
            code, k = gate % 16, gate // 16
            layer.logits[gate, k, code] = 0.0
            layer.connections[gate, k] = torch.tensor([0, 1])
    corners = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    y = layer(corners)
    for row, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        assert y[row].tolist() == [2.0 * _f(g % 16, a, b) - 1 for g in range(layer.gates)]
    # inside the square: the multilinear extension of the truth table
    p = torch.tensor([[0.3, 0.8]])
    q = (layer(p * 2 - 1)[0] + 1) / 2
    for gate in range(layer.gates):
        t00, t01, t10, t11 = bnn.gate_truth_table(gate % 16)
        assert q[gate].item() == pytest.approx(t00 * 0.7 * 0.2 + t01 * 0.7 * 0.8 + t10 * 0.3 * 0.2 + t11 * 0.3 * 0.8,
                                               abs=1e-6)


def test_relaxed_forward_mixes_slots_and_has_gradients():
    layer = bnn.LogicLayer(10, 20, candidates=4, seed=1).train()
    x = (torch.rand(8, 10) * 2 - 1).requires_grad_()
    y = layer(x)
    assert y.shape == (8, 20) and (y.abs() < 1).all()
    y.sum().backward()
    assert layer.logits.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


@pytest.mark.parametrize("layer", [bnn.LogicLayer(9, 30, candidates=2, seed=3),
                                   bnn.LogicConv2d(2, 5, 3, depth=3, stride=2, padding=1, candidates=2, seed=3)])
def test_frozen_training_forward_is_the_eval_forward(layer):
    x = _bits((6, 9)) if isinstance(layer, bnn.LogicLayer) else _bits((6, 2, 7, 6))
    layer.freeze()
    assert torch.equal(layer.train()(x), layer.eval()(x))
    relaxed = (x * 0.5).requires_grad_()     # frozen layers still pass gradients to earlier layers
    layer.train()(relaxed).sum().backward()
    assert relaxed.grad.abs().sum() > 0 and layer.logits.grad is None


def test_every_input_is_read_by_each_candidate_set():
    layer = bnn.LogicLayer(100, 60, candidates=3, seed=2)
    for k in range(3):
        assert set(layer.connections[:, k].flatten().tolist()) == set(range(100))
    narrow = bnn.LogicLayer(100, 20, seed=2)           # 40 inputs read, all different
    assert len(set(narrow.connections.flatten().tolist())) == 40
    assert torch.equal(bnn.LogicLayer(100, 60, 3, seed=2).connections, layer.connections)   # seeded


def test_redraw_replaces_the_unchosen_candidates_of_uncertain_gates():
    layer = bnn.LogicLayer(50, 40, candidates=4, seed=0)
    with torch.no_grad():
        layer.logits.zero_()
        layer.logits[:20, 2, 5] = 30.0                  # gates 0..19 are certain: candidate 2, b
        layer.logits[20:, 1, 3] = 0.5                   # gates 20..39 are not: candidate 1, a
    before = layer.connections.clone()
    logits = layer.logits.detach().clone()
    assert layer.redraw(0.5) == 20
    assert torch.equal(layer.connections[:20], before[:20]) and torch.equal(layer.logits[:20], logits[:20])
    assert torch.equal(layer.connections[20:, 1], before[20:, 1])
    assert torch.equal(layer.logits[20:, 1], logits[20:, 1])
    assert not torch.equal(layer.connections[20:, [0, 2, 3]], before[20:, [0, 2, 3]])
    assert not torch.equal(layer.logits[20:, [0, 2, 3]], logits[20:, [0, 2, 3]])
    layer.freeze()
    assert layer.redraw(1.1) == 0
    assert bnn.LogicLayer(50, 40, candidates=1).redraw(1.1) == 0


def test_group_sum_counts_bits_exactly():
    x = _bits((50, 12 * 37))
    y = bnn.GroupSum(12)(x)
    assert y.dtype == torch.float32
    assert torch.equal(y, (x > 0).view(50, 12, 37).sum(-1).float())
    for bad in ((50, 12 * 37 + 1), (50, 6), (50, 12, 37)):
        with pytest.raises(ValueError, match=r"GroupSum\(12\).*multiple of 12"):
            bnn.GroupSum(12)(torch.ones(bad))


def _conv_reference(layer: bnn.LogicConv2d, x: np.ndarray) -> np.ndarray:
    """Evaluate ``layer.tree()`` on +-1 images directly: padding bits 0, level order, root last."""
    leaves, codes = layer.tree()
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    bits = np.pad((x > 0).astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    n, _, height, width = bits.shape
    rows, cols = (height - k) // s + 1, (width - k) // s + 1
    out = np.zeros((n, layer.out_channels, rows, cols), dtype=np.int64)
    for o in range(layer.out_channels):
        for i in range(rows):
            for j in range(cols):
                level = [bits[:, c, i * s + r, j * s + q] for c, r, q in leaves[o]]
                gate = 0
                while len(level) > 1:
                    nxt = []
                    for left, right in zip(level[0::2], level[1::2]):
                        nxt.append(_f(int(codes[o, gate]), left, right))
                        gate += 1
                    level = nxt
                out[:, o, i, j] = level[0]
    return out * 2.0 - 1


@pytest.mark.parametrize("depth,stride,padding,kernel", [(1, 1, 0, 2), (2, 1, 1, 3), (3, 2, 1, 3), (2, 3, 2, 3)])
def test_logic_conv_eval_is_its_tree(depth, stride, padding, kernel):
    layer = bnn.LogicConv2d(3, 8, kernel, depth=depth, stride=stride, padding=padding, candidates=2, seed=depth)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():       # spread the codes: every function appears
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=g))
        layer.tree_logits.copy_(torch.randn(layer.tree_logits.shape, generator=g))
        flat = torch.arange(layer.logits.shape[0] * layer.logits.shape[1])
        layer.logits.view(-1, 2, 16)[flat, flat % 2, flat % 16] = 10.0
        flat = torch.arange(layer.tree_logits.shape[0] * layer.tree_logits.shape[1])
        layer.tree_logits.view(-1, 16)[flat, (flat + 5) % 16] = 10.0
        layer.positions[0, 1] = layer.positions[0, 0]           # one tree reads one bit twice
    leaves, codes = layer.tree()
    assert leaves.dtype == np.int64 and leaves.shape == (8, 2 ** depth, 3)
    assert codes.dtype == np.uint8 and codes.shape == (8, 2 ** depth - 1)
    assert set(codes.flatten().tolist()) == set(range(16)) or depth == 1
    x = _bits((4, 3, 9, 8), seed=depth)
    y = layer.eval()(x)
    assert y.shape == (4, 8, *layer.output_size(9, 8))
    assert np.array_equal(y.numpy(), _conv_reference(layer, x.numpy()))


def test_logic_conv_padding_is_false():
    layer = bnn.LogicConv2d(1, 1, 3, depth=1, padding=1, seed=0)
    with torch.no_grad():
        layer.positions[0, :, 0] = torch.tensor([0, 0, 0])       # both leaves: the window's top-left
        layer.logits.fill_(0.0)
        layer.logits[0, 0, 0, 3] = 1.0                           # a
    y = layer.eval()(torch.ones(1, 1, 3, 3))
    assert y[0, 0].tolist() == [[-1, -1, -1], [-1, 1, 1], [-1, 1, 1]]


def test_logic_conv_relaxed_forward_has_gradients():
    layer = bnn.LogicConv2d(2, 3, 3, depth=2, padding=1, candidates=3, seed=0).train()
    x = (torch.rand(2, 2, 5, 5) * 2 - 1).requires_grad_()
    y = layer(x)
    assert y.shape == (2, 3, 5, 5) and (y.abs() <= 1).all()
    y.sum().backward()
    assert layer.logits.grad.abs().sum() > 0 and layer.tree_logits.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("make,match", [
    (lambda: bnn.LogicLayer(0, 3), "in_bits"), (lambda: bnn.LogicLayer(3, 3, candidates=0), "candidates"),
    (lambda: bnn.LogicLayer(3, 3, seed=-1), "seed"), (lambda: bnn.LogicLayer(3.0, 3), "in_bits"),
    (lambda: bnn.LogicConv2d(1, 1, 3, depth=0), "depth"), (lambda: bnn.LogicConv2d(1, 1, 3, padding=-1), "padding"),
    (lambda: bnn.GroupSum(0), "classes")])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_input_shapes():
    with pytest.raises(ValueError, match=r"LogicLayer expects \(batch, 5\)"):
        bnn.LogicLayer(5, 4)(torch.ones(2, 6))
    with pytest.raises(ValueError, match=r"LogicConv2d expects \(batch, 2,"):
        bnn.LogicConv2d(2, 4, 3)(torch.ones(1, 3, 5, 5))
    with pytest.raises(ValueError, match="smaller than"):
        bnn.LogicConv2d(2, 4, 3)(torch.ones(1, 2, 2, 5))


# -- the model file --------------------------------------------------------------------------------

def _mlp() -> nn.Sequential:
    model = nn.Sequential(bnn.Thermometer([64, 128]), bnn.LogicLayer(24, 40, candidates=3, seed=1),
                          bnn.LogicLayer(40, 30, seed=2), bnn.GroupSum(3))
    for seed, layer in enumerate((model[1], model[2])):
        _every_code(layer, seed)
    model[1].freeze()
    return model


def _cnn() -> nn.Sequential:
    return nn.Sequential(bnn.ImageInput(1, 6, 6), bnn.Thermometer([100]),
                         bnn.LogicConv2d(1, 4, 3, depth=2, stride=1, padding=1, candidates=2, seed=4),
                         bnn.LogicConv2d(4, 6, 3, depth=1, stride=2, seed=5), nn.Flatten(),
                         bnn.LogicLayer(6 * 2 * 2, 20, candidates=2, seed=6), bnn.GroupSum(5))


@pytest.mark.parametrize("make,shape", [(_mlp, (12,)), (_cnn, (1, 6, 6))])
def test_round_trip_is_exact(tmp_path, make, shape):
    model = make().eval()
    path = tmp_path / "net.pt"
    bnn_hw.save(model, path)
    loaded = bnn_hw.load(path)
    x = torch.randint(0, 256, (64, *shape)).float()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    for mine, theirs in zip(model, loaded):
        if isinstance(mine, bnn.LogicLayer):
            assert all(np.array_equal(u, v) for u, v in zip(mine.netlist(), theirs.netlist()))
        if isinstance(mine, bnn.LogicConv2d):
            assert all(np.array_equal(u, v) for u, v in zip(mine.tree(), theirs.tree()))
        if isinstance(mine, (bnn.LogicLayer, bnn.LogicConv2d)):
            assert mine.is_frozen == theirs.is_frozen
    data = torch.load(path, weights_only=True)
    assert data["layers"][1 if make is _mlp else 2]["config"]["seed"] in (1, 4)


def _bad_file(tmp_path, make, edit) -> str:
    path = tmp_path / "net.pt"
    bnn_hw.save(make(), path)
    data = torch.load(path, weights_only=True)
    edit(data)
    torch.save(data, path)
    with pytest.raises(ModelFileError) as e:
        bnn_hw.load(path)
    message = str(e.value)
    assert "\n" not in message
    return message


def _set(key, value):
    def edit(data):
        data["state_dict"][key] = value(data["state_dict"][key])
    return edit


def _config(index, **changes):
    def edit(data):
        data["layers"][index]["config"].update(changes)
    return edit


@pytest.mark.parametrize("make,edit,expected", [
    (_mlp, _set("1.connections", lambda t: t.index_put((torch.tensor(3), torch.tensor(1), torch.tensor(0)),
                                                        torch.tensor(24))),
     "layer 1 (LogicLayer): input index 24 is out of range 0..23"),
    (_mlp, _set("2.connections", lambda t: t - 1 if t.min() == 0 else t - t.min() - 1),
     "layer 2 (LogicLayer): input index -1 is out of range 0..39"),
    (_mlp, _set("1.connections", lambda t: t.float()), "layer 1 (LogicLayer): 'connections' has dtype float32, "
                                                       "expected int64"),
    (_mlp, _set("1.connections", lambda t: t.int()), "layer 1 (LogicLayer): 'connections' has dtype int32"),
    (_mlp, _set("2.logits", lambda t: t.double()), "layer 2 (LogicLayer): 'logits' has dtype float64, expected float32"),
    (_mlp, _set("1.frozen", lambda t: t.float()), "layer 1 (LogicLayer): 'frozen' has dtype float32, expected bool"),
    (_mlp, _config(1, candidates=2), "layer 1 (LogicLayer): '1.logits' has shape (40, 3, 16), expected (40, 2, 16)"),
    (_mlp, _config(2, gates=31), "layer 2 (LogicLayer): '2.logits' has shape (30, 1, 16), expected (31, 1, 16)"),
    (_mlp, _config(1, candidates=0), "layer 1 (LogicLayer) has a bad config: candidates must be an integer >= 1"),
    (_mlp, _config(3, classes=2.0), "layer 3 (GroupSum) has a bad config"),
    (_cnn, _set("2.positions", lambda t: t.index_put((torch.tensor(1), torch.tensor(2), torch.tensor(0),
                                                      torch.tensor(0)), torch.tensor(1))),
     "layer 2 (LogicConv2d): input channel 1 is out of range 0..0"),
    (_cnn, _set("3.positions", lambda t: t.index_put((torch.tensor(0), torch.tensor(1), torch.tensor(0),
                                                      torch.tensor(2)), torch.tensor(3))),
     "layer 3 (LogicConv2d): window offset 3 is out of range 0..2"),
    (_cnn, _set("2.positions", lambda t: t.double()), "layer 2 (LogicConv2d): 'positions' has dtype float64"),
    (_cnn, _set("2.tree_logits", lambda t: t.half()), "layer 2 (LogicConv2d): 'tree_logits' has dtype float16"),
    (_cnn, _config(2, depth=3), "layer 2 (LogicConv2d): '2.logits' has shape (4, 2, 2, 16), expected (4, 4, 2, 16)"),
    (_cnn, _set("5.logits", lambda t: t.index_put((torch.tensor(0),), torch.tensor(float("nan")))),
     "'5.logits' holds NaN or infinite values"),
])
def test_bad_files_are_rejected_in_one_line(tmp_path, make, edit, expected):
    assert expected in _bad_file(tmp_path, make, edit)


def test_check_state_is_declared_at_registration():
    assert bnn.LAYER_TYPES["LogicLayer"].check_state is bnn.LogicLayer.check_state
    assert bnn.LAYER_TYPES["LogicConv2d"].check_state is bnn.LogicConv2d.check_state
    assert bnn.LAYER_TYPES["GroupSum"].check_state is None
    assert bnn.LAYER_TYPES["BinaryLinear"].check_state is None


# -- training: discretization ----------------------------------------------------------------------

def test_freeze_deadlines_are_spread_and_end_with_the_last_epoch():
    assert freeze_deadlines(3, 30, 0.5) == [20, 25, 30]
    assert freeze_deadlines(4, 2, 0.5) == [2, 2, 2, 2]
    assert freeze_deadlines(2, 1, 0.9) == [1, 1]
    for layers in range(1, 6):
        for epochs in range(1, 12):
            d = freeze_deadlines(layers, epochs, 0.3)
            assert d == sorted(d) and d[-1] == epochs and d[0] >= 1


def test_layers_freeze_front_to_back():
    layers = [bnn.LogicLayer(8, 8, seed=i) for i in range(3)]
    schedule = LogicSchedule(freeze_confidence=0.9, freeze_start=0.5, redraw_threshold=None)
    with torch.no_grad():
        layers[1].logits[:, :, 3] = 50.0        # layer 1 is certain, but layer 0 comes first
    assert discretize_step(layers, 1, 10, schedule) == []
    with torch.no_grad():
        layers[0].logits[:, :, 3] = 50.0
    assert discretize_step(layers, 2, 10, schedule) == [0]          # one settled layer an epoch
    assert discretize_step(layers, 3, 10, schedule) == [1]
    assert discretize_step(layers, 4, 10, schedule) == []
    assert discretize_step(layers, 10, 10, schedule) == [2]         # the last deadline
    assert all(layer.is_frozen for layer in layers)


def test_training_ends_with_every_layer_frozen_and_reports_the_boolean_network():
    from bnn_hw.datasets import digits
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in digits("train"))
    x, y = x[:400], y[:400]
    model = nn.Sequential(bnn.Thermometer([64, 160]), bnn.LogicLayer(128, 200, candidates=2, seed=1),
                          bnn.LogicLayer(200, 100, seed=2), bnn.GroupSum(10))
    history = train(model, x, y, epochs=3, batch_size=50, lr=0.05, tau=3.0,
                    logic=LogicSchedule(freeze_start=0.3), log=lambda s: None)
    assert [row["frozen"] for row in history] == [[False, False], [True, False], [True, True]]
    assert history[-1]["discrete_train_acc"] == accuracy(model, x, y) > 0.3


@pytest.mark.parametrize("layer", [bnn.LogicLayer(9, 30, candidates=3, seed=3),
                                   bnn.LogicConv2d(2, 5, 3, depth=2, padding=1, candidates=2, seed=3)])
def test_gumbel_sampling_trains_boolean_gates_with_soft_gradients(layer):
    x = _bits((6, 9)) if isinstance(layer, bnn.LogicLayer) else _bits((6, 2, 5, 5))
    layer.gumbel = 1.0
    torch.manual_seed(0)
    y = layer.train()(x)
    assert set(y.unique().tolist()) <= {-1.0, 1.0}          # each gate one sampled slot, on bits
    (y * torch.randn(y.shape)).sum().backward()
    assert layer.logits.grad.abs().sum() > 0
    with torch.no_grad():
        layer.logits.mul_(1000)                              # certain: the sample is the argmax
        if isinstance(layer, bnn.LogicConv2d):
            layer.tree_logits.mul_(1000)
    assert torch.equal(layer(x), layer.eval()(x))


def test_annealed_temperature_sharpens_the_mixture_towards_the_argmax():
    schedule = LogicSchedule(freeze_start=0.5, anneal=0.01)
    assert [schedule.temperature_at(s, 100) for s in (0, 49, 50)] == [1.0, 1.0, 1.0]
    assert schedule.temperature_at(75, 100) == pytest.approx(0.1)
    assert schedule.temperature_at(100, 100) == pytest.approx(0.01)
    assert LogicSchedule().temperature_at(100, 100) == 1.0
    layer = bnn.LogicLayer(6, 40, candidates=2, seed=0).train()
    x = _bits((10, 6))
    soft = layer(x)
    layer.temperature = 1e-6
    hard = layer.eval()(x)
    assert (soft - hard).abs().max() > 0.1
    assert torch.allclose(layer.train()(x), hard, atol=1e-5)


def test_redraw_step_only_in_the_first_epochs_and_counts_gates():
    layers = [bnn.LogicLayer(8, 16, candidates=3, seed=i) for i in range(2)]
    schedule = LogicSchedule(redraw_threshold=0.9, redraw_until=0.5)
    assert redraw_step(layers, 1, 4, schedule) == [16, 16]
    layers[1].freeze()
    assert redraw_step(layers, 2, 4, schedule) == [16, 0]
    assert redraw_step(layers, 3, 4, schedule) == [0, 0]
    assert redraw_step(layers, 1, 4, LogicSchedule(redraw_threshold=None)) == [0, 0]


def test_shift_augmentation_moves_images_by_at_most_one_pixel():
    from bnn_hw.training import augment
    image = torch.zeros(28, 28, dtype=torch.uint8)
    image[10, 20] = 255
    shifted = augment(image.reshape(1, 784).repeat(200, 1), "shift", torch.Generator().manual_seed(0))
    places = {tuple(int(v) for v in divmod(int(row.argmax()), 28)) for row in shifted}
    assert places == {(10 + dy, 20 + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert (shifted.sum(1) == 255).all()


def test_logic_conv_redraw_replaces_the_unchosen_positions_of_uncertain_gates():
    layer = bnn.LogicConv2d(3, 4, 3, depth=2, candidates=3, seed=0)
    with torch.no_grad():
        layer.logits.zero_()
        layer.logits[:2, :, 1, 6] = 40.0           # channels 0, 1: certain, candidate 1
        layer.logits[2:, :, 2, 6] = 0.5            # channels 2, 3: uncertain, candidate 2
    before, logits = layer.positions.clone(), layer.logits.detach().clone()
    leaves, codes = layer.tree()
    assert layer.redraw(0.5) == 4                  # 2 channels x 2 first-level gates
    assert torch.equal(layer.positions[:2], before[:2]) and torch.equal(layer.logits[:2], logits[:2])
    assert torch.equal(layer.positions[2:, :, 2], before[2:, :, 2])
    assert not torch.equal(layer.positions[2:, :, :2], before[2:, :, :2])
    assert torch.equal(layer.logits[2:, :, 2], logits[2:, :, 2])
    assert layer.positions[..., 0].max() < 3 and layer.positions[..., 1:].max() < 3
    assert np.array_equal(layer.tree()[0][:2], leaves[:2])
