"""Training layers: exact +-1 forwards, and the straight-through / ApproxSign gradients."""

import pytest
import torch

from bnn_hw import nn as bnn


def test_sign_forward_and_gradients():
    x = torch.tensor([-1.5, -0.5, 0.0, 0.5, 1.5], requires_grad=True)
    for grad, expected in (("ste", [0, 1, 1, 1, 0]), ("approx", [0, 1, 2, 1, 0])):
        x.grad = None
        y = bnn.Sign(grad)(x)
        assert y.tolist() == [-1, -1, 1, 1, 1]  # sign(0) = +1
        y.sum().backward()
        assert x.grad.tolist() == expected


def test_binary_linear_uses_exact_binary_weights():
    layer = bnn.BinaryLinear(5, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.3, -0.2, 0.0, 1.0, -1.0]] * 3))
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0]])
    assert layer(x).tolist() == [[1.0, 1.0, 1.0]]  # +1 -1 +1 +1 -1


def test_binary_linear_scale_multiplies_the_integer_dot():
    layer = bnn.BinaryLinear(4, 2, scale=True)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.scale.copy_(torch.tensor([0.5, -2.0]))
    assert layer(torch.ones(1, 4)).tolist() == [[2.0, -8.0]]


def test_thermometer_layout_is_channels_last():
    t = bnn.Thermometer([10, 20])
    assert t(torch.tensor([[5, 15, 25]])).tolist() == [[-1, -1, 1, -1, 1, 1]]


@pytest.mark.parametrize("bad", [[], [0], [300], [20, 10], [10, 10]])
def test_thermometer_rejects_bad_thresholds(bad):
    with pytest.raises(ValueError):
        bnn.Thermometer(bad)


def test_sign_rejects_unknown_gradient():
    with pytest.raises(ValueError, match="ste"):
        bnn.Sign("magic")


def test_progressive_binarization_is_soft_in_training_and_exact_in_eval():
    from bnn_hw.training import temperature_at
    layer = bnn.BinaryLinear(4, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.5, 0.1, -0.1], [1.0, -1.0, 0.0, 0.2]]))
    x = torch.ones(1, 4)
    layer.temperature = 1.0
    soft = layer.train()(x)
    assert soft[0, 0].item() == pytest.approx(float(torch.tanh(torch.tensor([0.5, -0.5, 0.1, -0.1])).sum()))
    assert layer.eval()(x).tolist() == [[0.0, 2.0]]       # the sign, whatever the temperature
    # geometric from start to end over 80% of the steps, then the sign
    assert temperature_at(0, 100, 1.0, 0.01) == 1.0
    assert temperature_at(40, 100, 1.0, 0.01) == pytest.approx(0.1)
    assert temperature_at(80, 100, 1.0, 0.01) is None


def test_training_with_progressive_binarization_ends_binary():
    from bnn_hw.training import train
    torch.manual_seed(0)
    model = torch.nn.Sequential(bnn.BinaryLinear(8, 4), torch.nn.BatchNorm1d(4), bnn.Sign(), bnn.BinaryLinear(4, 2))
    images = torch.randint(0, 2, (64, 8)).float() * 2 - 1
    labels = (images[:, 0] > 0).long()
    train(model, images, labels, epochs=2, batch_size=16, progressive=(1.0, 0.05), log=lambda s: None)
    assert all(m.temperature is None for m in model.modules() if isinstance(m, bnn.BinaryLinear))
