"""net.pt: round trip, and one clear line for every kind of bad file."""


import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.cli import main
from bnn_hw.errors import ModelFileError
from conftest import random_mlp


@pytest.fixture
def saved(tmp_path):
    model = random_mlp(12, [9], 4, seed=0)
    path = tmp_path / "net.pt"
    bnn_hw.save(model, path)
    return model, path


def test_round_trip_is_exact(saved):
    model, path = saved
    loaded = bnn_hw.load(path)
    x = torch.randint(0, 256, (50, 12)).float()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not loaded.training


def _error(path) -> str:
    with pytest.raises(ModelFileError) as e:
        bnn_hw.load(path)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in _error(tmp_path / "nope.pt")


def test_truncated_file(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(bad)


def test_not_a_torch_file(tmp_path):
    bad = tmp_path / "text.pt"
    bad.write_text("hello")
    assert "truncated or not a PyTorch file" in _error(bad)


def test_plain_state_dict_is_not_a_bnn_hw_model(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    assert "not a bnn-hw model file" in _error(path)


class Evil:
    def __reduce__(self):
        return (print, ("code from the file ran",))


def test_pickled_code_is_never_run(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "bnn-hw-model", "x": Evil()}, path)
    assert "not a bnn-hw model file" in _error(path)
    assert "code from the file ran" not in capsys.readouterr().out


def test_unsupported_layer_names_supported_ones(saved, tmp_path):
    _, path = saved
    data = torch.load(path, weights_only=True)
    data["layers"][1]["type"] = "Conv2d"
    bad = tmp_path / "conv.pt"
    torch.save(data, bad)
    message = _error(bad)
    assert "'Conv2d'" in message and "BinaryLinear" in message and "layer 1" in message


def test_wrong_shape(saved, tmp_path):
    _, path = saved
    data = torch.load(path, weights_only=True)
    data["state_dict"]["1.weight"] = torch.zeros(9, 5)
    bad = tmp_path / "shape.pt"
    torch.save(data, bad)
    message = _error(bad)
    assert "(9, 5)" in message and "expected (9, 36)" in message


def test_save_rejects_unknown_layers(tmp_path):
    with pytest.raises(ModelFileError, match="ReLU"):
        bnn_hw.save(torch.nn.Sequential(bnn.BinaryLinear(4, 4), torch.nn.ReLU()), tmp_path / "x.pt")


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.fixture
def saved_boolnet(tmp_path):
    from conftest import random_boolnet
    path = tmp_path / "boolnet.pt"
    bnn_hw.save(random_boolnet(), path)
    return path


def test_nested_layers_name_their_place_in_the_block(saved_boolnet, tmp_path):
    data = torch.load(saved_boolnet, weights_only=True)
    assert data["layers"][5]["type"] == "LogicShortcut" and len(data["layers"][5]["layers"]) == 3
    data["layers"][5]["layers"][2]["type"] = "ReLU"
    torch.save(data, tmp_path / "relu.pt")
    assert "layer 5.2 has unsupported type 'ReLU'" in _error(tmp_path / "relu.pt")
    del data["layers"][5]["layers"]
    torch.save(data, tmp_path / "bodyless.pt")
    assert "layer 5 (LogicShortcut) is malformed" in _error(tmp_path / "bodyless.pt")


def test_nested_tensor_of_the_wrong_shape(saved_boolnet, tmp_path):
    data = torch.load(saved_boolnet, weights_only=True)
    data["state_dict"]["5.0.weight"] = torch.zeros(8, 8, 3, 2)
    torch.save(data, tmp_path / "shape.pt")
    message = _error(tmp_path / "shape.pt")
    assert "layer 5.0 (BinaryConv2d)" in message and "expected (8, 8, 3, 3)" in message
