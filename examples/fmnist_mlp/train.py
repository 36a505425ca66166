"""Train a small binary MLP on Fashion-MNIST and save it as ``net.pt`` with :func:`bnn_hw.save`.

The model::

    Thermometer(thresholds)                      # 784 pixels -> 784*K bits
    BinaryLinear(784*K, H), BatchNorm1d(H), Sign()
    BinaryLinear(H, H),     BatchNorm1d(H), Sign()
    BinaryLinear(H, 10)                          # integer dot-product scores, no BN, no scale

The saved model outputs exactly the integer scores the hardware computes. For the loss only, the
scores are multiplied by a learned positive temperature ``exp(log_t)``; the temperature belongs to the
training loop, not to the saved model (it does not change the arg-max).

After training the script reloads the saved file with :func:`bnn_hw.load` (eval mode), measures the
test accuracy of the reloaded model on all 10,000 test images and writes it, with the configuration,
to ``metrics.json`` next to the model file.

Usage::

    python examples/fmnist_mlp/train.py                 # the shipped configuration
    python examples/fmnist_mlp/train.py --hidden 256 --thresholds 30,120 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import bnn_hw
from bnn_hw.datasets import fashion_mnist
from bnn_hw.nn import BinaryLinear, Sign, Thermometer

HERE = os.path.dirname(os.path.abspath(__file__))


def build_model(thresholds, hidden: int) -> nn.Sequential:
    k = len(thresholds)
    return nn.Sequential(
        Thermometer(thresholds),
        BinaryLinear(784 * k, hidden), nn.BatchNorm1d(hidden), Sign(),
        BinaryLinear(hidden, hidden), nn.BatchNorm1d(hidden), Sign(),
        BinaryLinear(hidden, 10),
    )


def weight_bits(thresholds, hidden: int) -> int:
    return 784 * len(thresholds) * hidden + hidden * hidden + hidden * 10


def augment(x: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """Training-time augmentation of a batch of flattened 28x28 uint8 images.

    ``"flip"``: mirror left-right with probability 1/2; ``"flip-shift"``: also translate each image by
    up to 2 pixels in each direction (vacated pixels are 0); ``"none"``: unchanged.
    """
    if mode == "none":
        return x
    n = len(x)
    img = x.view(n, 28, 28)
    flip = torch.rand(n, generator=generator) < 0.5
    img = torch.where(flip[:, None, None], img.flip(-1), img)
    if mode == "flip-shift":
        padded = F.pad(img, (2, 2, 2, 2))
        dy = torch.randint(0, 5, (n,), generator=generator)
        dx = torch.randint(0, 5, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(28))[:, :, None]
        cols = (dx[:, None] + torch.arange(28))[:, None, :]
        img = padded[torch.arange(n)[:, None, None], rows, cols]
    return img.reshape(n, 784)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        scores = model(images[i:i + batch].float())
        correct += (scores.argmax(1) == labels[i:i + batch]).sum().item()
    return correct / len(images)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--hidden", type=int, default=256, help="hidden layer width H (default 256)")
    p.add_argument("--thresholds", default="16",
                   help="thermometer thresholds on 0..255 pixels, comma-separated (default 16: one bit, "
                        "pixel >= 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate, cosine-decayed to 0")
    p.add_argument("--augment", choices=["none", "flip", "flip-shift"], default="none",
                   help="training augmentation: left-right flips, optionally 2-pixel shifts (default none)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--out", default=os.path.join(HERE, "net.pt"),
                   help="model file to write (default: net.pt next to this script); "
                        "metrics.json is written next to it")
    args = p.parse_args(argv)

    thresholds = [int(t) for t in args.thresholds.split(",") if t.strip()]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)

    x_train, y_train = (torch.from_numpy(a) for a in fashion_mnist("train"))
    x_test, y_test = (torch.from_numpy(a) for a in fashion_mnist("test"))

    model = build_model(thresholds, args.hidden)
    # Temperature for the loss only: scores are integers in [-H, H].
    log_t = nn.Parameter(torch.tensor(-0.5 * math.log(args.hidden)))
    optimizer = torch.optim.Adam(list(model.parameters()) + [log_t], lr=args.lr)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    binary = [m.weight for m in model if isinstance(m, BinaryLinear)]
    generator = torch.Generator().manual_seed(args.seed)

    print(f"model: thresholds={thresholds} hidden={args.hidden} "
          f"weight bits={weight_bits(thresholds, args.hidden)}", flush=True)
    start = time.perf_counter()
    history = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss = 0.0
        correct = 0
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            x, y = augment(x_train[idx], args.augment, generator).float(), y_train[idx]
            scores = model(x)
            loss = F.cross_entropy(scores * log_t.exp(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                for w in binary:
                    w.clamp_(-1, 1)
            total_loss += loss.item() * len(idx)
            correct += (scores.argmax(1) == y).sum().item()
        row = {"epoch": epoch, "loss": total_loss / len(x_train), "train_acc": correct / len(x_train),
               "seconds": time.perf_counter() - t0}
        history.append(row)
        print(f"epoch {epoch:3d}/{args.epochs}  loss {row['loss']:.4f}  train acc {row['train_acc']:.4f}  "
              f"temperature {log_t.exp().item():.4f}  {row['seconds']:.1f}s", flush=True)
    train_seconds = time.perf_counter() - start

    out = os.path.abspath(args.out)
    bnn_hw.save(model, out)
    reloaded = bnn_hw.load(out)
    test_acc = accuracy(reloaded, x_test, y_test)
    if accuracy(model, x_test, y_test) != test_acc:
        raise SystemExit("error: the reloaded model disagrees with the trained model")
    print(f"saved {out}; test accuracy of the reloaded model on {len(x_test)} images: {test_acc:.4f} "
          f"(training {train_seconds:.0f}s)", flush=True)

    metrics = {
        "test_accuracy": test_acc,
        "test_images": len(x_test),
        "measured_on": "model reloaded with bnn_hw.load, eval mode",
        "config": {"thresholds": thresholds, "hidden": args.hidden, "epochs": args.epochs,
                   "seed": args.seed, "augment": args.augment, "batch_size": args.batch_size, "lr": args.lr,
                   "optimizer": "Adam, cosine decay to 0, latent weights clamped to [-1, 1]",
                   "threads": args.threads},
        "weight_bits": weight_bits(thresholds, args.hidden),
        "train_seconds": round(train_seconds, 1),
        "final_train_loss": history[-1]["loss"],
        "final_train_acc": history[-1]["train_acc"],
        "torch": torch.__version__,
    }
    with open(os.path.join(os.path.dirname(out), "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    return metrics


if __name__ == "__main__":
    main()
