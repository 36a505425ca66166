"""The sparse binary training layers: the {alpha, beta} domain on its grid, the expected-connections
penalty, the closed-form start from full-precision weights, and their model-file checks."""

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw.errors import ModelFileError
from bnn_hw.nn import SparseBinaryConv2d, SparseBinaryLinear


def test_weights_take_two_values_on_the_grid():
    layer = SparseBinaryLinear(6, 3, frac_bits=2, bits=6)
    with torch.no_grad():
        layer.tau.fill_(0.8)     # rounds to 0.75
        layer.phi.fill_(0.3)     # rounds to 0.25
        layer.weight.copy_(torch.tensor([[1, -1, 0, 0.5, -0.5, 1]] * 3, dtype=torch.float32))
    assert layer.alpha_beta() == (-0.5, 1.0)
    w = layer.binary_weight()
    assert set(w.flatten().tolist()) == {-0.5, 1.0}
    assert (w[0] == torch.tensor([1.0, -0.5, 1.0, 1.0, -0.5, 1.0])).all()   # sign(0) is beta
    layer.eval()
    x = torch.tensor([[1, -1, 1, 1, -1, -1.0]])
    assert layer(x)[0, 0].item() == 1 + 0.5 + 1 + 1 + 0.5 - 1


def test_the_default_domain_is_the_ordinary_binary_layer():
    layer = SparseBinaryLinear(5, 2)
    assert layer.alpha_beta() == (-1.0, 1.0)


def test_rounding_is_straight_through_inside_the_range():
    layer = SparseBinaryLinear(4, 2)
    (layer.binary_weight().sum()).backward()
    assert layer.tau.grad is not None and layer.phi.grad is not None
    assert layer.phi.grad.item() == 8.0   # d(sum of tau s + phi)/d phi = number of weights


def test_sparsity_penalty_pushes_the_beta_fraction_down():
    torch.manual_seed(0)
    layer = SparseBinaryLinear(100, 20)
    before = layer.beta_fraction().item()
    assert 0.4 < before < 0.6
    penalty = layer.sparsity_penalty(0.1, gamma=2.0)
    assert penalty.item() == pytest.approx(2.0 * (before - 0.1))
    penalty.backward()
    assert (layer.weight.grad > 0).all()   # gradient descent lowers every latent weight
    assert layer.sparsity_penalty(0.9).item() == 0.0


@pytest.mark.parametrize("expected", [0.0, -0.1, 1.5])
def test_expected_connections_outside_0_1_are_refused(expected):
    layer = SparseBinaryLinear(4, 2)
    with pytest.raises(ValueError, match="expected connections must be in"):
        layer.sparsity_penalty(expected)
    with pytest.raises(ValueError, match="expected connections must be in"):
        layer.init_from(torch.randn(2, 4), expected)


def test_init_from_gives_the_best_two_level_approximation_for_the_split():
    torch.manual_seed(1)
    full = torch.randn(8, 50)
    layer = SparseBinaryLinear(50, 8, frac_bits=10, bits=16)
    factor = layer.init_from(full, 0.1)
    w = layer.binary_weight().detach()
    beta_positions = w == w.max()
    assert beta_positions.float().mean().item() == pytest.approx(0.1, abs=0.01)
    # the largest 10% of the weights are beta, and each value is its part's mean (up to the grid)
    cut = full.flatten().topk(40).values[-1]
    assert torch.equal(beta_positions, full >= cut)
    alpha, beta = layer.alpha_beta()
    assert beta / factor == pytest.approx(full[full >= cut].mean().item(), abs=2e-3)
    assert alpha / factor == pytest.approx(full[full < cut].mean().item(), abs=2e-3)
    # no other two values on that split are closer to the weights
    residual = ((w / factor - full) ** 2).sum()
    for shift in (-0.01, 0.01):
        assert residual <= ((torch.where(beta_positions, beta / factor + shift, alpha / factor) - full) ** 2).sum()


def test_exactness_bound_on_the_fan_in():
    with pytest.raises(ValueError, match="float32's exact integers"):
        SparseBinaryLinear(1 << 17, 2, frac_bits=4, bits=8)
    with pytest.raises(ValueError, match="bits"):
        SparseBinaryLinear(4, 2, frac_bits=8, bits=8)


def test_conv_pads_with_a_binary_value_only():
    with pytest.raises(ValueError, match="pads with -1 or \\+1"):
        SparseBinaryConv2d(2, 3, 3, padding=1, pad_value=0)
    conv = SparseBinaryConv2d(2, 3, 3, padding=1, pad_value=1).eval()
    assert conv(torch.ones(1, 2, 4, 4)).shape == (1, 3, 4, 4)


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(2)
    model = torch.nn.Sequential(SparseBinaryLinear(10, 4), torch.nn.BatchNorm1d(4)).eval()
    model[0].init_from(torch.randn(4, 10), 0.25)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    x = torch.sign(torch.randn(7, 10)) + 0.0
    assert torch.equal(loaded(x), model(x))
    assert loaded[0].alpha_beta() == model[0].alpha_beta()


@pytest.mark.parametrize("key, value, message", [
    ("tau", float("nan"), "NaN or infinite"),
    ("phi", 1e6, "outside the 8-bit grid's range"),
    ("tau", -9.0, "outside the 8-bit grid's range"),
])
def test_hand_edited_domain_is_refused_in_one_line(tmp_path, key, value, message):
    model = torch.nn.Sequential(SparseBinaryLinear(10, 4)).eval()
    bnn_hw.save(model, tmp_path / "net.pt")
    data = torch.load(tmp_path / "net.pt", weights_only=True)
    data["state_dict"][f"0.{key}"] = torch.tensor(value)
    torch.save(data, tmp_path / "edited.pt")
    with pytest.raises(ModelFileError, match=message) as e:
        bnn_hw.load(tmp_path / "edited.pt")
    assert "\n" not in str(e.value) and "tau" in str(e.value) or "phi" in str(e.value)


def test_training_counts_sparse_layers_and_logs_their_beta_fraction():
    from bnn_hw.training import train, weight_bits
    torch.manual_seed(3)
    model = torch.nn.Sequential(bnn_hw.nn.Thermometer([128]), SparseBinaryLinear(16, 8), torch.nn.BatchNorm1d(8),
                                bnn_hw.nn.Sign(), bnn_hw.nn.BinaryLinear(8, 3))
    images = torch.randint(0, 256, (64, 16), dtype=torch.uint8)
    labels = torch.randint(0, 3, (64,))
    history = train(model, images, labels, epochs=2, batch_size=32, sparsity=(0.05, 5.0), log=lambda s: None)
    assert weight_bits(model) == 16 * 8 + 8 * 3
    assert len(history[-1]["beta_fraction"]) == 1
    assert history[-1]["beta_fraction"][0] < history[0]["beta_fraction"][0] or history[0]["beta_fraction"][0] <= 0.05
    assert model[1].weight.abs().max() <= 1   # latent weights clamped as a binary layer's
