"""Distillation: the two losses, the teacher file (safe to load, clear errors), and training with teachers."""

import importlib.util
import json
import pickle

import pytest
import torch
from torch.nn import functional as F

import bnn_hw
from bnn_hw.datasets import fashion_mnist
from bnn_hw.distillation import (Distillation, confidence_loss, kd_loss, load_teacher, save_teacher,
                                 teacher_network)
from bnn_hw.nn import BinaryLinear, Sign, Thermometer
from bnn_hw.training import train
from example_testing import EXAMPLES

TINY = (4, 4, 8)


def _logits(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3


def test_kd_loss_is_the_cross_entropy_at_weight_0_and_the_scaled_kl_at_weight_1():
    student, teachers, labels = _logits(16, 10), _logits(2, 16, 10, seed=1), torch.arange(16) % 10
    assert torch.allclose(kd_loss(student, teachers, labels, temperature=4, weight=0),
                          F.cross_entropy(student, labels))
    soft = F.softmax(teachers / 4, -1).mean(0)
    kl = (soft * (soft.log() - F.log_softmax(student / 4, -1))).sum(-1).mean()
    assert torch.allclose(kd_loss(student, teachers, labels, temperature=4, weight=1), 16 * kl, atol=1e-5)
    assert kd_loss(teachers[0], teachers[:1], labels, temperature=2, weight=1).abs() < 1e-5


def test_confidence_loss_with_one_teacher_is_the_soft_cross_entropy():
    student, teacher, labels = _logits(8, 10), _logits(1, 8, 10, seed=1), torch.arange(8)
    expected = -(F.softmax(teacher[0], -1) * F.log_softmax(student, -1)).sum(-1).mean()
    assert torch.allclose(confidence_loss(student, teacher, labels), expected)


def test_confidence_loss_follows_the_teacher_that_is_right_about_each_image():
    labels = torch.tensor([0, 1])
    right = torch.full((2, 10), -5.0)
    right[0, 0] = right[1, 1] = 5.0
    wrong = torch.full((2, 10), -5.0)
    wrong[0, 3] = wrong[1, 4] = 5.0
    # image 0: the first teacher is right; image 1: the second one
    teachers = torch.stack([torch.stack([right[0], wrong[1]]), torch.stack([wrong[0], right[1]])])
    assert confidence_loss(right, teachers, labels) < 0.1 < confidence_loss(wrong, teachers, labels)


def test_teacher_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = teacher_network(TINY).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
    save_teacher(model, TINY, tmp_path / "t.pt")
    images = torch.randint(0, 256, (5, 784), dtype=torch.uint8)
    distill = Distillation([model])
    assert torch.equal(distill.logits(images), Distillation([load_teacher(tmp_path / "t.pt")]).logits(images))


def test_a_teacher_file_runs_no_code(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "bnn-hw-teacher/1", "channels": [4], "state": Payload()}, protocol=2))
    with pytest.raises(ValueError, match="not a readable teacher file"):
        load_teacher(path)
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    (None, "no teacher file"),
    (b"not a torch file", "not a readable teacher file"),
    ({"format": "something else"}, "is not a bnn-hw-teacher/1 file"),
    ({"format": "bnn-hw-teacher/1", "channels": [4, -1], "state": {}}, "positive integers"),
    ({"format": "bnn-hw-teacher/1", "channels": [4, 4, 8], "state": {}}, "do not fit a teacher"),
])
def test_bad_teacher_files_fail_in_one_line(tmp_path, content, message):
    path = tmp_path / "t.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ValueError, match=message) as error:
        load_teacher(path)
    assert "\n" not in str(error.value)


def test_distillation_rejects_a_bad_recipe():
    with pytest.raises(ValueError, match="unknown distillation loss"):
        Distillation([teacher_network(TINY)], loss="mse")
    with pytest.raises(ValueError, match="at least one teacher"):
        Distillation([])
    with pytest.raises(ValueError, match="positive temperature"):
        Distillation([teacher_network(TINY)], temperature=0)


@pytest.mark.parametrize("loss, augmentation", [("kd", "none"), ("confidence", "shift")])
def test_a_student_trains_on_its_teachers(loss, augmentation):
    images, labels = (torch.from_numpy(a[:512]) for a in fashion_mnist("train"))
    torch.manual_seed(0)
    teachers = [teacher_network(TINY).eval() for _ in range(2)]
    student = torch.nn.Sequential(Thermometer([64]), BinaryLinear(784, 10))
    before = student[1].weight.detach().clone()
    history = train(student, images, labels, epochs=2, batch_size=128, augmentation=augmentation,
                    distill=Distillation(teachers, loss=loss), log=lambda _: None)
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(row["loss"])) for row in history)
    assert not torch.equal(before, student[1].weight)


def _example(name):
    spec = importlib.util.spec_from_file_location(f"{name}_train", EXAMPLES / name / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_teacher_script_then_a_distilled_example(tmp_path):
    teacher = tmp_path / "teacher" / "teacher.pt"
    metrics = _example("fmnist_teacher").main(["--epochs", "1", "--train-images", "6000", "--channels", "16,16,32",
                                               "--out", str(teacher)])
    assert metrics["test_accuracy"] > 0.5
    student = _example("fmnist_mlp").main(["--epochs", "1", "--hidden", "32", "--teacher", str(teacher),
                                           "--distill", "confidence", "--out", str(tmp_path / "net.pt")])
    recorded = json.loads((tmp_path / "metrics.json").read_text())["config"]["distillation"]
    assert recorded["loss"] == "confidence" and recorded["teachers"][0]["file"] == "teacher.pt"
    assert len(recorded["teachers"][0]["sha256"]) == 64 and student["test_accuracy"] > 0.3  # chance is 0.1


def test_an_example_names_a_missing_teacher(tmp_path):
    with pytest.raises(SystemExit, match="no teacher file at .*fmnist_teacher/train.py"):
        _example("fmnist_mlp").main(["--epochs", "1", "--teacher", str(tmp_path / "none.pt"),
                                     "--out", str(tmp_path / "net.pt")])


@pytest.mark.parametrize("name", ["teacher", "teacher-seed1"])
def test_shipped_teachers_load_and_reach_their_recorded_accuracy(name):
    """Float networks: their accuracy may move by a near-tie between machines, not by more."""
    recorded = json.loads((EXAMPLES / "fmnist_teacher" / f"{name}.json").read_text())
    teacher = load_teacher(str(EXAMPLES / "fmnist_teacher" / f"{name}.pt"))
    images, labels = fashion_mnist("test")
    predicted = Distillation([teacher]).logits(torch.from_numpy(images))[0].argmax(1).numpy()
    assert (predicted == labels).mean() == pytest.approx(recorded["test_accuracy"], abs=0.002)


def test_a_second_stage_starts_from_the_first_stages_weights(tmp_path):
    """``--start-from``: the second run starts from the file the first wrote (recorded with its SHA-256);
    a file of another network is refused in one line."""
    mlp = _example("fmnist_mlp")
    first = tmp_path / "first" / "net.pt"
    mlp.main(["--epochs", "1", "--hidden", "32", "--out", str(first)])
    second = tmp_path / "second" / "net.pt"
    metrics = mlp.main(["--epochs", "1", "--hidden", "32", "--lr", "0",
                        "--start-from", str(first), "--out", str(second)])
    assert json.loads((tmp_path / "second" / "metrics.json").read_text())["config"]["start_from"]["file"] == "net.pt"
    # at learning rate 0 only the BatchNorm statistics move: the weights are the first run's
    a, b = bnn_hw.load(first).state_dict(), bnn_hw.load(second).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if "running" not in k and "num_batches" not in k)
    assert metrics["test_accuracy"] > 0.3
    with pytest.raises(SystemExit, match="--start-from .*: not a model of this network"):
        mlp.main(["--epochs", "1", "--hidden", "16", "--start-from", str(first), "--out", str(tmp_path / "x.pt")])
