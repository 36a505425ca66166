"""The frontend rejects models the hardware cannot implement, with one line naming the layer."""

import pytest
import torch

from bnn_hw import nn as bnn
from bnn_hw.compiler import compile_model
from bnn_hw.errors import UnsupportedModelError


def _compile_error(*layers) -> str:
    with pytest.raises(UnsupportedModelError) as e:
        compile_model(torch.nn.Sequential(*layers).eval())
    assert "\n" not in str(e.value)
    return str(e.value)


def test_final_batchnorm_is_rejected():
    msg = _compile_error(bnn.BinaryLinear(8, 4), torch.nn.BatchNorm1d(4))
    assert "layer 1 (BatchNorm1d)" in msg


def test_sizes_must_chain():
    msg = _compile_error(bnn.BinaryLinear(8, 4), torch.nn.BatchNorm1d(4), bnn.Sign(), bnn.BinaryLinear(5, 2))
    assert "layer 3" in msg and "5" in msg


def test_binary_layer_needs_binary_input():
    msg = _compile_error(bnn.BinaryLinear(8, 4), bnn.BinaryLinear(4, 2))
    assert "layer 1" in msg and "binary" in msg


def test_thermometer_must_divide_first_layer():
    msg = _compile_error(bnn.Thermometer([100, 200]), bnn.BinaryLinear(9, 2))
    assert "multiple of 2" in msg


def test_unknown_module():
    msg = _compile_error(bnn.BinaryLinear(8, 4), torch.nn.Tanh(), bnn.BinaryLinear(4, 2))
    assert "Tanh" in msg and "BinaryLinear" in msg
