"""Knowledge distillation: full-precision teachers, their cached weight files, and the soft-target losses.

A teacher is an ordinary float CNN (:func:`teacher_network`), trained once by
``examples/fmnist_teacher/train.py`` and cached as a file of tensors (:func:`save_teacher`); a student's
training loads it with :func:`load_teacher`, which reads tensors only (``torch.load(weights_only=True)``)
and rebuilds the network from the configuration stored beside them, so no code is executed from the file.

Two losses, chosen by :class:`Distillation`'s ``loss``:

``"kd"``
    Hinton, Vinyals and Dean (2015): ``(1 - weight) * CE(student, label) + weight * T^2 *
    KL(softmax(teacher / T) || softmax(student / T))``; with several teachers their softened
    probabilities are averaged.
``"confidence"``
    confidence-weighted soft cross-entropy over the teachers, in the spirit of BNext's (Guo et al.,
    2022) use of CA-MKD (Zhang, Chen and Wang, 2022): for each image the teachers' probabilities are
    mixed with weights ``softmax_i(-CE(teacher_i, label))``, so a teacher that is wrong about this image
    counts less, and the student minimises the cross-entropy to that mixture (no hard-label term, T = 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .nn import ImageInput

__all__ = ["TEACHER_FORMAT", "LOSSES", "teacher_network", "save_teacher", "load_teacher", "Distillation",
           "kd_loss", "confidence_loss"]

TEACHER_FORMAT = "bnn-hw-teacher/1"
LOSSES = ("kd", "confidence")


def teacher_network(channels: tuple[int, ...] = (32, 64, 128), classes: int = 10) -> nn.Sequential:
    """A full-precision CNN on 28x28 8-bit images: per width ``c`` in ``channels`` a stage of 3x3
    convolutions with BatchNorm and ReLU (one at the first width, two at each later one), 2x2 max
    pooling after the first two stages, global average pooling and a linear classifier."""
    if not channels or min(channels) < 1:
        raise ValueError(f"teacher channels must be positive widths, not {channels}")
    layers: list[nn.Module] = [ImageInput(1, 28, 28)]
    width = 1
    for stage, c in enumerate(channels):
        for _ in range(1 if stage == 0 else 2):
            layers += [nn.Conv2d(width, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            width = c
        if stage < 2:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes)]
    return nn.Sequential(*layers)


def save_teacher(model: nn.Sequential, channels: tuple[int, ...], path: str) -> None:
    """Write a :func:`teacher_network` built with ``channels`` as a file of tensors."""
    state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    torch.save({"format": TEACHER_FORMAT, "channels": list(channels), "state": state}, path)


def load_teacher(path: str) -> nn.Sequential:
    """The teacher saved at ``path``, in eval mode; ``ValueError`` with one line if it cannot be read."""
    if not os.path.isfile(path):
        raise ValueError(f"no teacher file at {path}: train one with examples/fmnist_teacher/train.py")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged or foreign files
        raise ValueError(f"{path} is not a readable teacher file ({type(error).__name__}): "
                         f"re-create it with examples/fmnist_teacher/train.py") from None
    if not isinstance(data, dict) or data.get("format") != TEACHER_FORMAT:
        raise ValueError(f"{path} is not a {TEACHER_FORMAT} file: re-create it with examples/fmnist_teacher/train.py")
    channels = data.get("channels")
    if not isinstance(channels, list) or not all(isinstance(c, int) and c > 0 for c in channels):
        raise ValueError(f"{path}: the teacher's channels must be a list of positive integers, not {channels!r}")
    model = teacher_network(tuple(channels))
    try:
        model.load_state_dict(data.get("state"))
    except Exception as error:
        first = str(error).strip().splitlines()[0]
        raise ValueError(f"{path}: the weights do not fit a teacher of channels {channels}: {first}") from None
    return model.eval()


def kd_loss(student: torch.Tensor, teachers: torch.Tensor, labels: torch.Tensor, *, temperature: float,
            weight: float) -> torch.Tensor:
    """Hinton's loss for ``student`` logits ``(n, k)`` and ``teachers`` logits ``(t, n, k)``."""
    soft = F.softmax(teachers / temperature, dim=-1).mean(0)
    kl = F.kl_div(F.log_softmax(student / temperature, dim=-1), soft, reduction="batchmean")
    return (1 - weight) * F.cross_entropy(student, labels) + weight * temperature ** 2 * kl


def confidence_loss(student: torch.Tensor, teachers: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Soft cross-entropy to the teachers' probabilities mixed per image by ``softmax(-CE(teacher, label))``."""
    t, n, k = teachers.shape
    ce = F.cross_entropy(teachers.reshape(t * n, k), labels.repeat(t), reduction="none").view(t, n)
    mix = (F.softmax(-ce, dim=0)[:, :, None] * F.softmax(teachers, dim=-1)).sum(0)
    return -(mix * F.log_softmax(student, dim=-1)).sum(-1).mean()


@dataclass
class Distillation:
    """What a student's training distils from: ``teachers`` (eval-mode float networks) and the loss.

    ``temperature`` and ``weight`` belong to the ``"kd"`` loss. :meth:`logits` runs the teachers.
    """
    teachers: list[nn.Module]
    loss: str = "kd"
    temperature: float = 4.0
    weight: float = 0.9

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown distillation loss {self.loss!r}: use one of {', '.join(LOSSES)}")
        if not self.teachers:
            raise ValueError("distillation needs at least one teacher")
        if self.temperature <= 0 or not 0 <= self.weight <= 1:
            raise ValueError(f"distillation needs a positive temperature and a weight in [0, 1], "
                             f"not {self.temperature} and {self.weight}")

    def to(self, device) -> "Distillation":
        """Move the teachers to ``device`` (where the student trains)."""
        for teacher in self.teachers:
            teacher.to(device)
        return self

    @torch.no_grad()
    def logits(self, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
        """The teachers' logits ``(teachers, n, classes)`` for flattened uint8 ``images``."""
        out = []
        for teacher in self.teachers:
            teacher.eval()
            shape = teacher[0].shape
            out.append(torch.cat([teacher(images[i:i + batch].float().view(-1, *shape))
                                  for i in range(0, len(images), batch)]))
        return torch.stack(out)

    def __call__(self, student: torch.Tensor, teachers: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The distillation loss of ``student`` logits against the ``teachers``' logits."""
        if self.loss == "kd":
            return kd_loss(student, teachers, labels, temperature=self.temperature, weight=self.weight)
        return confidence_loss(student, teachers, labels)
