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
    with pytest.raises(ModelFileError, match="Tanh"):
        bnn_hw.save(torch.nn.Sequential(bnn.BinaryLinear(4, 4), torch.nn.Tanh()), tmp_path / "x.pt")


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
    data["layers"][5]["layers"][2]["type"] = "Tanh"
    torch.save(data, tmp_path / "tanh.pt")
    assert "layer 5.2 has unsupported type 'Tanh'" in _error(tmp_path / "tanh.pt")
    del data["layers"][5]["layers"]
    torch.save(data, tmp_path / "bodyless.pt")
    assert "layer 5 (LogicShortcut) is malformed" in _error(tmp_path / "bodyless.pt")


def test_nested_tensor_of_the_wrong_shape(saved_boolnet, tmp_path):
    data = torch.load(saved_boolnet, weights_only=True)
    data["state_dict"]["5.0.weight"] = torch.zeros(8, 8, 3, 2)
    torch.save(data, tmp_path / "shape.pt")
    message = _error(tmp_path / "shape.pt")
    assert "layer 5.0 (BinaryConv2d)" in message and "expected (8, 8, 3, 3)" in message


def _edited(path, tmp_path, edit, name="edited.pt"):
    """A copy of the model file at ``path`` with ``edit(data)`` applied to its contents."""
    data = torch.load(path, weights_only=True)
    edit(data)
    torch.save(data, tmp_path / name)
    return tmp_path / name


def _cli_error(path, capsys) -> str:
    """``bnn-hw report`` on ``path``: one line on stderr, status 2."""
    assert main(["report", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and captured.out == ""
    return captured.err


@pytest.mark.parametrize("key, value", [("1.weight", float("nan")), ("2.running_var", float("inf")),
                                        ("2.bias", -float("inf")), ("4.weight", float("nan"))])
def test_nan_or_infinite_tensor_values(saved, tmp_path, capsys, key, value):
    _, path = saved

    def poison(data):
        data["state_dict"][key].view(-1)[3] = value
    bad = _edited(path, tmp_path, poison)
    assert f"{key!r} holds NaN or infinite values" in _error(bad)
    assert "NaN or infinite" in _cli_error(bad, capsys)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_version(saved, tmp_path, capsys, version):
    _, path = saved
    bad = _edited(path, tmp_path, lambda data: data.update(version=version))
    assert f"model file version {version!r} is not supported (this bnn-hw reads version 1)" in _error(bad)
    assert "is not supported" in _cli_error(bad, capsys)


def test_missing_version(saved, tmp_path):
    _, path = saved
    assert "model file version None is not supported" in _error(_edited(path, tmp_path, lambda d: d.pop("version")))


@pytest.mark.parametrize("key", ["1.weight", "2.running_mean", "2.num_batches_tracked"])
def test_missing_tensor(saved, tmp_path, capsys, key):
    _, path = saved
    bad = _edited(path, tmp_path, lambda data: data["state_dict"].pop(key))
    assert _error(bad).endswith(f"tensor {key!r} is missing")
    assert "is missing" in _cli_error(bad, capsys)


@pytest.mark.parametrize("key", ["9.weight", "1.scale", "2.weight_extra"])
def test_extra_tensor(saved, tmp_path, capsys, key):
    _, path = saved
    bad = _edited(path, tmp_path, lambda data: data["state_dict"].__setitem__(key, torch.zeros(9)))
    assert _error(bad).endswith(f"unexpected tensor {key!r}")
    assert "unexpected tensor" in _cli_error(bad, capsys)


def test_a_tensor_that_is_not_a_tensor(saved, tmp_path):
    _, path = saved
    bad = _edited(path, tmp_path, lambda data: data["state_dict"].__setitem__("1.weight", [[1.0] * 36] * 9))
    assert "'1.weight' is not a tensor" in _error(bad)


# The saved model's layers: 0 Thermometer, 1 BinaryLinear(36, 9), 2 BatchNorm1d(9), 3 Sign, 4 BinaryLinear(9, 4).
@pytest.mark.parametrize("layer, key, value, says", [
    # values of the wrong type, including ones a constructor would quietly convert
    (0, "thresholds", [64.5, 128, 192], "'thresholds' is [64.5, 128, 192], which the layer takes as [64, 128, 192]"),
    (0, "thresholds", [True, 128], "'thresholds' is [True, 128]"),
    (0, "thresholds", 64, "not iterable"),
    (1, "in_features", "36", "'<' not supported"),
    (1, "in_features", 36.0, "float"),
    (1, "in_features", True, "'in_features' is True, which the layer takes as 1"),
    (1, "scale", "yes", "scale must be one of"),
    (2, "num_features", 9.0, "float"),
    (2, "eps", "0.001", "'eps' is '0.001', which the layer takes as 0.001"),
    (2, "eps", None, "float() argument must be"),
    (2, "eps", -1e-5, "eps must be a non-negative number"),
    (2, "eps", float("nan"), "eps must be a non-negative number, not nan"),
    (2, "momentum", "fast", "could not convert string to float"),
    (3, "grad", 5, "Sign grad must be one of"),
    # keys the layer does not take
    (1, "bias", True, "unexpected keyword argument 'bias'"),
    (2, "track_running_stats", False, "must have affine=True and track_running_stats=True"),
    (3, "slope", 1, "unexpected keyword argument 'slope'"),
])
def test_bad_layer_config(saved, tmp_path, capsys, layer, key, value, says):
    _, path = saved
    bad = _edited(path, tmp_path, lambda data: data["layers"][layer]["config"].__setitem__(key, value))
    message = _error(bad)
    assert f"layer {layer} (" in message and "has a bad config" in message and says in message
    assert says in _cli_error(bad, capsys)


def test_unknown_key_on_a_layer_that_takes_any(tmp_path):
    """nn.Identity's constructor takes and ignores any arguments; the file may not add any."""
    path = tmp_path / "identity.pt"
    bnn_hw.save(torch.nn.Sequential(bnn.BinaryLinear(4, 3), torch.nn.Identity(), bnn.BinaryLinear(3, 2)), path)
    bad = _edited(path, tmp_path, lambda data: data["layers"][1]["config"].__setitem__("inplace", True))
    assert "layer 1 (Identity) has a bad config: unknown key 'inplace' (it takes none)" in _error(bad)


def test_missing_config_key_takes_the_default(saved, tmp_path):
    """A key left out is the constructor's default (files may predate an optional argument)."""
    model, path = saved
    loaded = bnn_hw.load(_edited(path, tmp_path, lambda data: data["layers"][1]["config"].pop("scale")))
    x = torch.randint(0, 256, (5, 12)).float()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
