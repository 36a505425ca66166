"""The QONNX importer: bnn-hw's reference equals qonnx's execute_onnx bit for bit on Brevitas exports
and on hand-written graphs (FINN's streamlined MultiThreshold, a division by 255), and every graph it
cannot map exactly is refused with one line naming the node."""

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw.cli import main
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.errors import ModelFileError, UnsupportedModelError
from bnn_hw.onnx_import import golden_outputs, import_onnx
from conftest import torch_scores
from qonnx_graphs import brevitas_cnn, brevitas_lfc, node, signs, write_graph


def _frames(features: int, count: int, rng) -> np.ndarray:
    """Random frames, and Fashion-MNIST test images where the size is theirs."""
    frames = rng.integers(0, 256, (count, features)).astype(np.uint8)
    if features == 784:
        frames[: count // 2] = fashion_mnist("test")[0][: count // 2]
    return frames


def _assert_exact(path, imported, frames):
    """reference == PyTorch, and the scores through the output table == execute_onnx."""
    classes, scores = compile_model(imported.model).predict(frames)
    assert np.array_equal(scores, torch_scores(imported.model, frames))
    golden = golden_outputs(imported, frames)
    assert np.array_equal(imported.onnx_outputs(scores), golden)
    assert np.array_equal(classes, golden.argmax(axis=1))


@pytest.mark.parametrize("seed, features, hidden, norm_sign, dynamo", [
    (0, 784, (32, 16), 1.0, True), (1, 784, (20,), -1.0, True), (2, 49, (13, 9, 7), 1.0, True),
    (3, 64, (11,), -1.0, False)])
def test_brevitas_lfc_matches_execute_onnx(tmp_path, rng, seed, features, hidden, norm_sign, dynamo):
    """Exports by both of Brevitas's exporters (the TorchScript one writes MatMul nodes of transposed
    weights, which qonnx's cleanup folds)."""
    path = tmp_path / "lfc.onnx"
    brevitas_lfc(path, features, hidden, seed=seed, norm_sign=norm_sign, dynamo=dynamo)
    imported = import_onnx(path, check_frames=0)
    assert [type(layer).__name__ for layer in imported.model] == \
        ["Thermometer"] + ["BinaryLinear", "Threshold"] * len(hidden) + ["BinaryLinear"]
    assert imported.model[0].thresholds == [128]   # 2 * k / 255 - 1 >= 0
    assert imported.input_range == "unit"
    falling = sum(int(layer.invert.sum()) for layer in imported.model if isinstance(layer, bnn_hw.nn.Threshold))
    assert falling > 0                             # the negative BatchNorm scales
    _assert_exact(path, imported, _frames(features, 120, rng))


@pytest.mark.parametrize("seed, image, convs", [
    (0, (1, 10, 10), ((6, 3, 1, 1, True), (8, 3, 0, 1, False))),
    (1, (1, 9, 9), ((4, 3, 0, 1, False), (8, 2, 1, 2, True))),
])
def test_brevitas_cnn_matches_execute_onnx(tmp_path, rng, seed, image, convs):
    path = tmp_path / "cnn.onnx"
    brevitas_cnn(path, image, convs, seed=seed)
    imported = import_onnx(path, check_frames=0)
    kinds = [type(layer).__name__ for layer in imported.model]
    assert kinds[:3] == ["ImageInput", "Thermometer", "BinaryConv2d"] and "MaxPool2d" in kinds and "Flatten" in kinds
    _assert_exact(path, imported, _frames(image[1] * image[2], 120, rng))


def test_brevitas_model_agrees_with_its_own_pytorch(tmp_path, rng):
    """The exported graph is the Brevitas model: the imported scores through the table give what
    the Brevitas module computes (the golden model is not a second opinion on a different network)."""
    path = tmp_path / "lfc.onnx"
    model = brevitas_lfc(path, 784, (32,), seed=4)
    imported = import_onnx(path, check_frames=0)
    frames = _frames(784, 64, rng)
    with torch.no_grad():
        brevitas = model(torch.from_numpy(imported.onnx_inputs(frames))).numpy()
    assert np.array_equal(imported.onnx_outputs(torch_scores(imported.model, frames)).argmax(axis=1),
                          brevitas.argmax(axis=1))


def _streamlined(path, rng, *, features=12, hidden=5, classes=3, batch=1):
    """A FINN-style graph: pixels 0..255 divided by 255, 2x - 1, a BipolarQuant, a MatMul, a
    MultiThreshold with a bipolar output, a MatMul and a scalar Mul."""
    thresholds = rng.integers(-features, features + 1, (hidden, 1)) + rng.choice([0.0, 0.5], (hidden, 1))
    nodes = [node("Div", ["x", "k255"], "unit"), node("Mul", ["unit", "two"], "twice"),
             node("Sub", ["twice", "one"], "centred"), node("BipolarQuant", ["centred", "one"], "bits"),
             node("MatMul", ["bits", "w1"], "sums"),
             node("MultiThreshold", ["sums", "t1"], "act", out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0),
             node("MatMul", ["act", "w2"], "scores"), node("Mul", ["scores", "half"], "y")]
    constants = {"k255": np.float32(255), "two": np.float32(2), "one": np.float32(1), "half": np.float32(0.5),
                 "w1": signs(rng, (features, hidden)), "t1": thresholds.astype(np.float32),
                 "w2": signs(rng, (hidden, classes))}
    write_graph(path, nodes, constants, (batch, features), (batch, classes))


@pytest.mark.parametrize("batch", [1, "N"])
def test_streamlined_multithreshold_graph_on_bytes(tmp_path, rng, batch):
    path = tmp_path / "streamlined.onnx"
    _streamlined(path, rng, batch=batch)
    imported = import_onnx(path)
    assert imported.input_range == "byte"
    assert "checked: 32 random frames" in imported.notes[-1]
    _assert_exact(path, imported, _frames(12, 200, rng))


def _binarise(source: str = "x", output: str = "b") -> list:
    """Pixels k / 255 to +-1 at k >= 128 (the constants ``half`` and ``one`` are in :data:`BINARISE`)."""
    return [node("Sub", [source, "half"], "centred"), node("BipolarQuant", ["centred", "one"], output)]


BINARISE = {"half": np.float32(0.5), "one": np.float32(1)}


def _one_layer(path, rng, *, weights=None, after=(), extra=None, out_channels=3):
    """x (1, 6) -> binarised -> MatMul -> ``after`` nodes -> y."""
    nodes, constants, tensor = _binarise(), dict(BINARISE), "b"
    if weights is not None:
        nodes.append(weights)
        constants["wq_in"] = signs(rng, (6, out_channels))
    else:
        constants["w"] = signs(rng, (6, out_channels))
    nodes.append(node("MatMul", [tensor, "w"], "m" if after else "y"))
    for k, (op, inputs, attrs) in enumerate(after):
        nodes.append(node(op, ["m" if k == 0 else f"a{k - 1}"] + inputs, "y" if k == len(after) - 1 else f"a{k}",
                          **attrs))
    constants.update(extra or {})
    write_graph(path, nodes, constants, (1, 6), (1, out_channels))


@pytest.mark.parametrize("case, message", [
    ("bias", r"node Gemm_y \(Gemm\) has a bias; bnn-hw imports binary layers without one"),
    ("3-bit", r"node Quant_w \(Quant\) quantizes .* weights to 3 bits; bnn-hw imports binary weights"),
    ("scale", r"weight scale x input scale = 0.1 is not a power of two"),
    ("levels", r"node Quant_a0 \(Quant\) gives \d levels .*not two \(\+-s\); bnn-hw imports binary activations"),
    ("per-channel", r"do not map the scores one strictly monotonic way for every class"),
    ("8-bit input", r"the first layer's input has \d+ levels after node .*bnn-hw's imported layers take bits"),
    ("transpose", r"node Transpose_t \(Transpose\) is not supported; bnn-hw imports MatMul / Gemm / Conv layers"),
    ("pool first", r"node BipolarQuant_q \(BipolarQuant\) follows a max pooling"),
    ("overlapping pool", r"node MaxPool_p \(MaxPool\): bnn-hw imports non-overlapping max pooling"),
    ("last conv", r"the last layer must be a MatMul or Gemm giving the class scores"),
    ("branch", r"tensor 'm' is read by 2 nodes; bnn-hw imports a chain of layers"),
    ("always one", r"the input binarisation \(BipolarQuant_b \(BipolarQuant\)\) is not 'pixel >= t'"),
])
def test_unsupported_graphs_are_refused_naming_the_node(tmp_path, rng, case, message):
    from onnx import helper
    path = tmp_path / f"{case}.onnx"
    quant = dict(rounding_mode="ROUND", signed=1, narrow=0)
    consts = {"zero": np.float32(0), "three": np.float32(3), "two": np.float32(2), "eight": np.float32(8),
              "tenth": np.float32(0.1), "s255": np.float32(1 / 255)}
    if case == "bias":
        write_graph(path, _binarise() + [helper.make_node("Gemm", ["b", "w", "c"], ["y"], name="Gemm_y", transB=1)],
                    {**BINARISE, "w": signs(rng, (3, 6)), "c": np.ones(3, np.float32)}, (1, 6), (1, 3))
    elif case == "3-bit":
        _one_layer(path, rng, weights=node("Quant", ["wq_in", "one", "zero", "three"], "w", **quant), extra=consts)
    elif case == "scale":
        _one_layer(path, rng, weights=node("BipolarQuant", ["wq_in", "tenth"], "w"), extra=consts)
    elif case == "levels":
        _one_layer(path, rng, after=[("Quant", ["one", "zero", "two"], quant), ("MatMul", ["w2"], {})], out_channels=3,
                   extra={**consts, "w2": signs(rng, (3, 3))})
    elif case == "per-channel":
        _one_layer(path, rng, after=[("Mul", ["scales"], {})], extra={"scales": np.array([1, 2, 3], np.float32)})
    elif case == "8-bit input":
        write_graph(path, [node("Quant", ["x", "s255", "zero", "eight"], "q", rounding_mode="ROUND", signed=0,
                                narrow=0), node("MatMul", ["q", "w"], "y")],
                    {**consts, "w": signs(rng, (6, 3))}, (1, 6), (1, 3))
    elif case == "transpose":
        write_graph(path, _binarise() + [node("Transpose", ["b"], "t", perm=[1, 0]), node("MatMul", ["t", "w"], "y")],
                    {**BINARISE, "w": signs(rng, (6, 3))}, (6, 1), (1, 3))
    elif case in ("pool first", "overlapping pool", "last conv"):
        pool = dict(kernel_shape=[2, 2], strides=[1, 1] if case == "overlapping pool" else [2, 2])
        nodes = _binarise() + [node("Conv", ["b", "k"], "c")]
        if case == "pool first":
            nodes += [node("MaxPool", ["c"], "p", **pool), node("BipolarQuant", ["p", "one"], "q")]
        else:
            nodes += [node("BipolarQuant", ["c", "one"], "q"), node("MaxPool", ["q"], "p", **pool)]
        if case == "last conv":
            nodes = nodes[:3] + [node("BipolarQuant", ["c", "one"], "y")]
        else:
            nodes += [node("Flatten", ["q" if case == "pool first" else "p"], "f"), node("MatMul", ["f", "w"], "y")]
        write_graph(path, nodes, {**BINARISE, "k": signs(rng, (2, 1, 3, 3)), "w": signs(rng, (8, 3))},
                    (1, 1, 6, 6) if case != "overlapping pool" else (1, 1, 5, 5), (1, 3) if case != "last conv"
                    else (1, 2, 4, 4))
    elif case == "branch":
        write_graph(path, _binarise() + [node("MatMul", ["b", "w"], "m"), node("Add", ["m", "m"], "y")],
                    {**BINARISE, "w": signs(rng, (6, 3))}, (1, 6), (1, 3))
    elif case == "always one":
        write_graph(path, [node("BipolarQuant", ["x", "one"], "b"), node("MatMul", ["b", "w"], "y")],
                    {"one": np.float32(1), "w": signs(rng, (6, 3))}, (1, 6), (1, 3))
    with pytest.raises(UnsupportedModelError, match=message) as raised:
        import_onnx(path)
    assert "\n" not in str(raised.value)


def test_damaged_files_are_refused(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x0a\xff\xff not a protobuf")
    with pytest.raises(ModelFileError, match="not an ONNX model or truncated"):
        import_onnx(tmp_path / "junk.onnx")
    with pytest.raises(ModelFileError, match="no such file"):
        import_onnx(tmp_path / "missing.onnx")


def test_cli_imports_and_builds_from_onnx(tmp_path, rng, capsys):
    path = tmp_path / "streamlined.onnx"
    _streamlined(path, rng)
    assert main(["import", str(path), "-o", str(tmp_path / "net.pt"), "--check", "8"]) == 0
    out = capsys.readouterr().out
    assert "binarised at pixel >= 128" in out and "checked: 8 random frames" in out
    model = bnn_hw.load(tmp_path / "net.pt")
    assert isinstance(model[2], bnn_hw.nn.Threshold)
    assert main(["report", str(path)]) == 0
    assert "imported " in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main(["import", str(path), "--check", "-1"])
    assert exited.value.code == 2 and "--check: must be a non-negative integer" in capsys.readouterr().err


def test_rtl_matches_execute_onnx(tmp_path, rng):
    """The generated Verilog of an imported Brevitas export, under random stalls, against execute_onnx."""
    from bnn_hw.sim.runner import simulate

    path = tmp_path / "lfc.onnx"
    brevitas_lfc(path, 64, (16, 12), seed=6, norm_sign=-1.0)
    imported = import_onnx(path, check_frames=0)
    plan = compile_model(imported.model)
    frames = _frames(64, 100, rng)
    result = simulate(plan, frames, build_dir=tmp_path / "sim", in_stall=0.3, out_stall=0.3, seed=3)
    golden = golden_outputs(imported, frames)
    assert np.array_equal(imported.onnx_outputs(result.scores), golden)
    assert np.array_equal(result.classes, golden.argmax(axis=1))


def test_rtl_of_an_imported_cnn_matches_execute_onnx(tmp_path, rng):
    """A convolutional import (zero padding, max pooling) in Verilog against execute_onnx."""
    from bnn_hw.sim.runner import simulate

    path = tmp_path / "cnn.onnx"
    brevitas_cnn(path, (1, 8, 8), ((4, 3, 1, 1, True), (6, 3, 0, 1, False)), hidden=(8,), seed=2)
    imported = import_onnx(path, check_frames=0)
    frames = _frames(64, 100, rng)
    result = simulate(compile_model(imported.model), frames, build_dir=tmp_path / "sim")
    golden = golden_outputs(imported, frames)
    assert np.array_equal(imported.onnx_outputs(result.scores), golden)
