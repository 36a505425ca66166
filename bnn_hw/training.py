"""A small training loop shared by the example scripts: augmentation, training, measured accuracy.

Images travel as the data sets give them, ``uint8`` rows of 28x28 pixels; :func:`model_inputs` shapes
them for the model (``(n, 784)`` for an MLP, ``(n, 1, 28, 28)`` after an :class:`~bnn_hw.nn.ImageInput`).
The integer scores of a bnn-hw model are multiplied by a learned positive temperature for the loss
only; the temperature belongs to the loop, not to the saved model (it does not change the arg-max).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .datasets import fashion_mnist
from .errors import ModelFileError
from .distillation import LOSSES, Distillation, load_teacher
from .intmath import ceil_div
from .model_file import load, save
from .nn import (BinaryLinear, FixedPointLinear, GroupSum, ImageInput, LogicConv2d, LogicLayer, SparseBinaryLinear,
                 _BinaryWeights, _SparseWeights)
from .progress import bar

__all__ = ["AUGMENTATIONS", "add_training_arguments", "training_config", "augment", "model_inputs", "accuracy", "train",
           "temperature_at", "save_with_metrics", "weight_bits", "train_example", "LogicSchedule", "logic_layers",
           "freeze_deadlines", "redraw_step", "discretize_step", "distillation_from_args", "distillation_config",
           "seed_run", "seeded_data", "write_json", "model_device", "start_from", "train_from_args"]

AUGMENTATIONS = ("none", "flip", "flip-shift", "shift")


def add_training_arguments(parser, *, out: str, epochs: int, batch_size: int, lr: float,
                           augmentation: str, threads: int = 2) -> None:
    """The options every example's training script has, with that script's defaults."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr, help="Adam learning rate, cosine-decayed to 0")
    parser.add_argument("--augment", choices=AUGMENTATIONS, default=augmentation,
                        help=f"training augmentation: left-right flips, optionally 2-pixel shifts, or 1-pixel shifts "
                             f"(default {augmentation})")
    parser.add_argument("--progressive", type=float, nargs=2, metavar=("START", "END"), default=None,
                        help="progressive weight binarization: tanh(w / T) with the temperature T lowered "
                             "geometrically from START to END over the first 80%% of the steps, then the "
                             "sign (default: the sign throughout)")
    parser.add_argument("--teacher", nargs="+", metavar="PATH", default=None,
                        help="distil from these full-precision teachers (files written by "
                             "examples/fmnist_teacher/train.py) instead of training on the labels alone")
    parser.add_argument("--distill", choices=LOSSES, default="kd",
                        help="with --teacher: Hinton's KD loss (kd, default) or the confidence-weighted soft "
                             "cross-entropy over the teachers (confidence)")
    parser.add_argument("--kd-temperature", type=float, default=4.0, help="temperature of the kd loss (default 4)")
    parser.add_argument("--kd-weight", type=float, default=0.9,
                        help="weight of the soft part of the kd loss, the rest on the labels (default 0.9)")
    parser.add_argument("--threads", type=int, default=threads, help=f"torch CPU threads (default {threads})")
    parser.add_argument("--start-from", metavar="PATH", default=None,
                        help="start from the weights of this model file (the same network, written by an earlier "
                             "run) instead of fresh ones: a second stage of training")
    parser.add_argument("--device", default="cpu",
                        help="torch device to train on, such as cuda (default cpu); the model is saved and "
                             "measured on the CPU either way")
    parser.add_argument("--out", default=out, help="model file to write (default: net.pt next to the "
                                                   "script); metrics.json is written next to it")


def training_config(args, train_images: int) -> dict:
    """The recipe options every example records in its ``metrics.json``."""
    return {"epochs": args.epochs, "seed": args.seed, "augment": args.augment, "progressive": args.progressive,
            "batch_size": args.batch_size, "lr": args.lr, "train_images": train_images,
            "optimizer": "Adam, cosine decay to 0, latent weights clamped to [-1, 1]", "threads": args.threads,
            "device": getattr(args, "device", "cpu"),
            "start_from": ({"file": os.path.basename(args.start_from), "sha256": _sha256(args.start_from)}
                           if getattr(args, "start_from", None) else None),
            "distillation": distillation_config(args)}


def distillation_from_args(args) -> Distillation | None:
    """The :class:`~bnn_hw.distillation.Distillation` that ``--teacher`` and its options ask for, or None.

    Raises ``SystemExit`` with one line if a teacher file cannot be loaded."""
    if not args.teacher:
        return None
    try:
        return Distillation([load_teacher(path) for path in args.teacher], loss=args.distill,
                            temperature=args.kd_temperature, weight=args.kd_weight)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def distillation_config(args) -> dict | None:
    """What ``metrics.json`` records of the distillation: the loss, its options and the teacher files."""
    if not args.teacher:
        return None
    return {"loss": args.distill, "teachers": [{"file": os.path.basename(p), "sha256": _sha256(p)} for p in args.teacher],
            **({"temperature": args.kd_temperature, "weight": args.kd_weight} if args.distill == "kd" else {})}


def augment(x: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """Training-time augmentation of a batch of flattened 28x28 uint8 images.

    ``"flip"``: mirror left-right with probability 1/2; ``"flip-shift"``: also translate each image by
    up to 2 pixels in each direction (vacated pixels are 0); ``"shift"``: only translate, by up to 1
    pixel; ``"none"``: unchanged.
    """
    if mode == "none":
        return x
    n = len(x)
    img = x.view(n, 28, 28)
    if mode == "shift":
        return _shift(img, 1, generator).reshape(n, 784)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    img = torch.where(flip[:, None, None], img.flip(-1), img)
    if mode == "flip-shift":
        img = _shift(img, 2, generator)
    return img.reshape(n, 784)


def _shift(img: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Each ``(n, 28, 28)`` image translated by up to ``pixels`` in each direction (vacated pixels 0).
    The offsets are drawn on the CPU (``generator``), whatever the images' device."""
    n, device = len(img), img.device
    padded = F.pad(img, (pixels,) * 4)
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=generator).to(device)
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=generator).to(device)
    steps = torch.arange(28, device=device)
    rows = (dy[:, None] + steps)[:, :, None]
    cols = (dx[:, None] + steps)[:, None, :]
    return padded[torch.arange(n, device=device)[:, None, None], rows, cols]


def model_inputs(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Flattened images as the model's float input: images for an ImageInput model, rows otherwise."""
    first = model[0]
    if isinstance(first, ImageInput):
        return x.float().view(len(x), *first.shape)
    return x.float()


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    """Eval-mode accuracy of ``model`` on flattened ``images`` (each batch moved to the model's device)."""
    model.eval()
    device, correct = model_device(model), 0
    for i in range(0, len(images), batch):
        scores = model(model_inputs(model, images[i:i + batch].to(device)))
        correct += (scores.argmax(1) == labels[i:i + batch].to(device)).sum().item()
    return correct / len(images)


def temperature_at(step: int, steps: int, start: float, end: float) -> float | None:
    """The progressive-binarization temperature at ``step`` of ``steps``: geometric from ``start``
    to ``end`` over the first 80% of the steps, then None (the sign)."""
    ramp = max(1, int(0.8 * steps))
    if step >= ramp:
        return None
    return start * (end / start) ** (step / ramp)


@dataclass(frozen=True)
class LogicSchedule:
    """How :func:`train` discretizes a model's logic layers (:class:`~bnn_hw.nn.LogicLayer`,
    :class:`~bnn_hw.nn.LogicConv2d`) and re-draws their candidate connections.

    Freezing (adaptive discretization): after each epoch the first layer not yet frozen is frozen
    (it computes its argmax gates from then on, and the layers after it adapt) when its
    :meth:`~bnn_hw.nn.LogicLayer.confidence` reaches ``freeze_confidence``, or at the latest after
    epoch :func:`freeze_deadlines` gives it: the layers' deadlines are spread evenly over the epochs
    after the first ``freeze_start`` of them, the last layer's after the last epoch, so training ends
    with every layer frozen: a Boolean network whose accuracy :func:`train` reports.

    Re-drawing: after each of the first ``redraw_until`` of the epochs, every unfrozen layer with
    several candidates re-draws the unchosen candidates of gates whose largest slot probability is
    below ``redraw_threshold`` (None: never).
    """

    freeze_confidence: float = 0.95
    freeze_start: float = 0.5
    redraw_threshold: float | None = 0.5
    redraw_until: float = 0.5
    #: Gumbel-softmax straight-through sampling of the gates in training at this temperature
    #: (:attr:`bnn_hw.nn.LogicLayer.gumbel`), or None for the softmax mixture.
    gumbel: float | None = None
    #: The softmax temperature of the unfrozen layers' slots (:attr:`bnn_hw.nn.LogicLayer.temperature`)
    #: is lowered geometrically from 1 after the first ``freeze_start`` of the steps to this at the
    #: end (None: 1 throughout), so the mixtures approach the gates they will be frozen to.
    anneal: float | None = None

    def temperature_at(self, step: int, steps: int) -> float:
        start = int(self.freeze_start * steps)
        if self.anneal is None or step < start:
            return 1.0
        return self.anneal ** ((step - start) / max(1, steps - start))

    def __post_init__(self):
        if not (0 <= self.freeze_start <= 1 and 0 <= self.redraw_until <= 1):
            raise ValueError("freeze_start and redraw_until are fractions of the epochs, in [0, 1]")


def logic_layers(model: nn.Module) -> list[nn.Module]:
    """The model's logic layers in forward order (nested ones included)."""
    return [m for m in model.modules() if isinstance(m, (LogicLayer, LogicConv2d))]


def freeze_deadlines(layers: int, epochs: int, start: float) -> list[int]:
    """The epoch after which each of ``layers`` logic layers is frozen at the latest: evenly spread
    after the first ``start`` of the ``epochs``, non-decreasing, the last one ``epochs``."""
    first = start * epochs
    return [min(epochs, max(1, math.ceil(first + (epochs - first) * (i + 1) / layers - 1e-9)))
            for i in range(layers)]


def redraw_step(layers: list[nn.Module], epoch: int, epochs: int, schedule: LogicSchedule) -> list[int]:
    """After ``epoch`` (1-based) of ``epochs``, during the first ``redraw_until`` of them: every
    unfrozen layer re-draws the unchosen candidates of its uncertain gates. Returns the number of
    gates re-drawn in each layer."""
    if schedule.redraw_threshold is None or epoch > schedule.redraw_until * epochs or epoch >= epochs:
        return [0] * len(layers)
    return [0 if layer.is_frozen else layer.redraw(schedule.redraw_threshold) for layer in layers]


def discretize_step(layers: list[nn.Module], epoch: int, epochs: int, schedule: LogicSchedule) -> list[int]:
    """After ``epoch`` (1-based) of ``epochs``: freeze, front to back, the first unfrozen layer if it
    has settled and every one whose deadline has come. Returns the indices of the layers frozen now."""
    deadlines = freeze_deadlines(len(layers), epochs, schedule.freeze_start)
    frozen, settled_used = [], False
    for index, layer in enumerate(layers):
        if layer.is_frozen:
            continue
        if epoch >= deadlines[index]:
            layer.freeze()
        elif not settled_used and layer.confidence() >= schedule.freeze_confidence:
            layer.freeze()
            settled_used = True
        else:
            break
        frozen.append(index)
    return frozen


def _score_scale(model: nn.Sequential, images: torch.Tensor) -> float:
    """The initial temperature of the scores: ``1 / sqrt(N)`` for scores in ``[-N, N]`` (the N
    inputs of the last BinaryLinear) or in ``[0, N]`` (a GroupSum's groups of N bits), and as much
    less as a FixedPointLinear's integer weights are larger."""
    if isinstance(model[-1], GroupSum):
        was_training = model.training
        with torch.no_grad():
            bits = model[:-1].eval()(model_inputs(model, images[:1].to(model_device(model))))
        model.train(was_training)
        return 1 / math.sqrt(max(1, bits.shape[1] // model[-1].classes))
    last = next(m for m in reversed(model) if isinstance(m, (BinaryLinear, SparseBinaryLinear, FixedPointLinear)))
    if isinstance(last, FixedPointLinear):   # integer weights up to 2**(B-1), about a quarter of it on average
        return 1 / (math.sqrt(last.in_features) * 2 ** (last.weight_bits - 2))
    return 1 / math.sqrt(last.in_features)


def train(model: nn.Sequential, images: torch.Tensor, labels: torch.Tensor, *, epochs: int,
          batch_size: int = 256, lr: float = 1e-3, augmentation: str = "none", seed: int = 0,
          progressive: tuple[float, float] | None = None, tau: float | None = None,
          logic: LogicSchedule | None = None, sparsity: tuple[float, float] | None = None,
          distill: Distillation | None = None, device: str = "cpu", log=print) -> list[dict]:
    """Adam with cosine decay to 0, latent binary weights clamped to [-1, 1]; returns per-epoch rows.

    ``progressive=(start, end)`` binarizes the weights progressively (:func:`temperature_at`).
    The loss is the cross-entropy of the scores divided by ``tau``, or times a learned temperature
    with ``tau=None``. A model with logic layers is discretized by ``logic`` (:class:`LogicSchedule`,
    its defaults if None): every logic layer ends frozen, and the last row's ``discrete_train_acc`` is
    the eval-mode accuracy of the finished (Boolean) network on the training images.

    ``log`` gets a line per epoch; on a terminal a bar over each epoch's batches shows on stderr as
    well (:func:`bnn_hw.progress.bar`).

    ``sparsity=(expected, gamma)`` adds every sparse layer's
    :meth:`~bnn_hw.nn.SparseBinaryLinear.sparsity_penalty` to the loss, and each row gets the layers'
    fractions of beta weights (``beta_fraction``).

    ``distill`` (:class:`~bnn_hw.distillation.Distillation`) replaces the cross-entropy with its loss
    against the teachers' logits; without augmentation those are computed once, before the first epoch.

    ``device`` is where the model (moved there, and back to the CPU at the end), the teachers and the
    images live during training; on a GPU, TF32 is turned off so that the sums of integers stay exact
    in float32 as on the CPU. Every random draw is made on the CPU, so a run's draws do not depend on
    the device."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model.to(device)
    images, labels = images.to(device), labels.to(device)
    if distill is not None:
        distill.to(device)
    log_t = nn.Parameter(torch.tensor(math.log(_score_scale(model, images) if tau is None else 1 / tau), device=device),
                         requires_grad=tau is None)
    gates = logic_layers(model)
    schedule = logic or LogicSchedule()
    for layer in gates:
        layer.gumbel = schedule.gumbel
    optimizer = torch.optim.Adam([p for p in model.parameters()] + ([log_t] if tau is None else []), lr=lr)
    steps_per_epoch = ceil_div(len(images), batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    layers = binary_layers(model)
    sparse = sparse_layers(model)
    binary = [m.weight for m in layers]
    step, steps = 0, epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(seed)
    history = []
    cached = distill.logits(images) if distill is not None and augmentation == "none" else None
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total_loss, correct = 0.0, 0
        # on a terminal, a bar over the epoch's batches, wiped when they are done (before the epoch's line)
        for i in bar(range(0, len(order), batch_size), desc=f"epoch {epoch}/{epochs}", unit="batch"):
            idx = order[i:i + batch_size].to(device)
            if progressive is not None:
                temperature = temperature_at(step, steps, *progressive)
                for layer in layers:
                    layer.temperature = temperature
            for layer in gates:
                layer.temperature = schedule.temperature_at(step, steps)
            step += 1
            raw, y = augment(images[idx], augmentation, generator), labels[idx]
            scores = model(model_inputs(model, raw))
            if distill is None:
                loss = F.cross_entropy(scores * log_t.exp(), y)
            else:
                teachers = cached[:, idx] if cached is not None else distill.logits(raw)
                loss = distill(scores * log_t.exp(), teachers, y)
            if sparsity is not None:
                loss = loss + sum(layer.sparsity_penalty(*sparsity) for layer in sparse)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                for w in binary:
                    w.clamp_(-1, 1)
            total_loss += loss.item() * len(idx)
            correct += (scores.argmax(1) == y).sum().item()
        row = {"epoch": epoch, "loss": total_loss / len(images), "train_acc": correct / len(images),
               "seconds": time.perf_counter() - t0}
        note = ""
        if sparse:
            row["beta_fraction"] = [round(float(layer.beta_fraction().detach()), 4) for layer in sparse]
            note = f"  beta fraction {' '.join(f'{f:.3f}' for f in row['beta_fraction'])}"
        if gates:
            row["confidence"] = [round(layer.confidence(), 4) for layer in gates]
            row["redrawn"] = redraw_step(gates, epoch, epochs, schedule)
            frozen = discretize_step(gates, epoch, epochs, schedule)
            row["frozen"] = [layer.is_frozen for layer in gates]
            note = (f"  confidence {' '.join(f'{c:.3f}' for c in row['confidence'])}"
                    + (f"  redrew {'/'.join(map(str, row['redrawn']))}" if any(row["redrawn"]) else "")
                    + (f"  froze layer {', '.join(map(str, frozen))}" if frozen else ""))
        history.append(row)
        log(f"epoch {epoch:3d}/{epochs}  loss {row['loss']:.4f}  train acc {row['train_acc']:.4f}  "
            f"score scale {log_t.exp().item():.4f}  {row['seconds']:.1f}s{note}")
    for layer in layers:
        layer.temperature = None
    if gates:
        for layer in gates:
            layer.gumbel, layer.temperature = None, 1.0
        t0 = time.perf_counter()
        history[-1]["discrete_train_acc"] = accuracy(model, images, labels)
        history[-1]["seconds"] += time.perf_counter() - t0
        log(f"all {len(gates)} logic layers frozen: train acc of the Boolean network "
            f"{history[-1]['discrete_train_acc']:.4f}")
    model.cpu()
    return history


def save_with_metrics(model: nn.Sequential, out: str, test_images: torch.Tensor, test_labels: torch.Tensor,
                      history: list[dict], config: dict, log=print, **extra) -> dict:
    """Save ``model``, reload it, measure its test accuracy and write ``metrics.json`` beside it.

    Raises ``SystemExit`` if the reloaded model disagrees with the trained one.
    """
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    save(model, out)
    reloaded = load(out)
    test_acc = accuracy(reloaded, test_images, test_labels)
    if accuracy(model, test_images, test_labels) != test_acc:
        raise SystemExit("error: the reloaded model disagrees with the trained model")
    log(f"saved {out}; test accuracy of the reloaded model on {len(test_images)} images: {test_acc:.4f}")
    metrics = {
        "test_accuracy": test_acc,
        "test_images": len(test_images),
        "measured_on": "model reloaded with bnn_hw.load, eval mode",
        "config": config,
        **extra,
        "train_seconds": round(sum(row["seconds"] for row in history), 1),
        "final_train_loss": history[-1]["loss"],
        "final_train_acc": history[-1]["train_acc"],
        "torch": torch.__version__,
    }
    write_json(os.path.join(os.path.dirname(out), "metrics.json"), metrics)
    return metrics


def binary_layers(model: nn.Module) -> list[nn.Module]:
    """The layers with latent binary weights (binary and sparse binary, nested ones included)."""
    return [m for m in model.modules() if isinstance(m, _BinaryWeights)]


def sparse_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose weights are in a learned ``{alpha, beta}`` domain."""
    return [m for m in model.modules() if isinstance(m, _SparseWeights)]


def weight_bits(model: nn.Module) -> int:
    """Binary weights of a model (its binary and sparse binary layers, nested ones included; not the
    integer weights of a ``PixelConv2d(..., weight_bits=8)``)."""
    return sum(m.weight.numel() for m in binary_layers(model) if getattr(m, "weight_bits", 1) == 1)


def seed_run(args) -> None:
    """Set torch's CPU threads (``--threads``) and seed torch and NumPy (``--seed``) for a training run."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)


def seeded_data(args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`seed_run`, then Fashion-MNIST as tensors: the first ``--train-images`` training images
    (all without that option) and labels, and the whole test set."""
    seed_run(args)
    x_train, y_train = (torch.from_numpy(a[:getattr(args, "train_images", None)]) for a in fashion_mnist("train"))
    x_test, y_test = (torch.from_numpy(a) for a in fashion_mnist("test"))
    return x_train, y_train, x_test, y_test


def train_from_args(model: nn.Sequential, args, images: torch.Tensor, labels: torch.Tensor, **options) -> list[dict]:
    """:func:`train` ``model`` with the recipe of the options of :func:`add_training_arguments`
    (``--start-from`` first loads its weights: :func:`start_from`) and ``options`` (``tau``, ``logic``,
    ``sparsity``), logging each epoch on stdout."""
    if getattr(args, "start_from", None):
        start_from(model, args.start_from)
    return train(model, images, labels, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                 augmentation=args.augment, seed=args.seed, progressive=args.progressive,
                 distill=distillation_from_args(args), device=args.device, log=lambda s: print(s, flush=True),
                 **options)


def start_from(model: nn.Module, path: str) -> None:
    """Load the weights of the model file ``path`` into ``model``, which must be the same network.

    Raises ``SystemExit`` with one line if the file cannot be read or holds another network."""
    try:
        model.load_state_dict(load(path).state_dict())
    except (ModelFileError, RuntimeError) as error:
        lines = str(error).strip().splitlines()
        detail = " ".join(line.strip() for line in lines[:2])[:300]
        raise SystemExit(f"error: --start-from {path}: not a model of this network ({detail})") from None


def write_json(path: str, data: dict) -> None:
    """``data`` as indented JSON with a final newline (``metrics.json`` and the like)."""
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def train_example(args, build_model, config: dict) -> dict:
    """What an example's training script does with its parsed ``args`` (:func:`add_training_arguments`
    and ``--train-images``): seed, load Fashion-MNIST, build the model with ``build_model()``, train
    it, and save it with its measured test accuracy, ``config`` and the recipe in ``metrics.json``."""
    x_train, y_train, x_test, y_test = seeded_data(args)
    model = build_model()
    bits = weight_bits(model)
    print(model, f"\nweight bits: {bits}", flush=True)
    history = train_from_args(model, args, x_train, y_train)
    return save_with_metrics(model, args.out, x_test, y_test, history, config | training_config(args, len(x_train)),
                             weight_bits=bits)
