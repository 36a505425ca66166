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
import os

import torch
from torch import nn

from bnn_hw.nn import BinaryLinear, Sign, Thermometer
from bnn_hw.training import (add_training_arguments, save_with_metrics, seeded_data, train_from_args, training_config)

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


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=256, help="hidden layer width H (default 256)")
    p.add_argument("--thresholds", default="16",
                   help="thermometer thresholds on 0..255 pixels, comma-separated (default 16: one bit, "
                        "pixel >= 16)")
    add_training_arguments(p, out=os.path.join(HERE, "net.pt"), epochs=15, batch_size=256, lr=1e-3,
                           augmentation="none")
    args = p.parse_args(argv)

    thresholds = [int(t) for t in args.thresholds.split(",") if t.strip()]
    x_train, y_train, x_test, y_test = seeded_data(args)
    torch.use_deterministic_algorithms(True)

    model = build_model(thresholds, args.hidden)
    print(f"model: thresholds={thresholds} hidden={args.hidden} "
          f"weight bits={weight_bits(thresholds, args.hidden)}", flush=True)
    history = train_from_args(model, args, x_train, y_train)
    config = {"thresholds": thresholds, "hidden": args.hidden} | training_config(args, len(x_train))
    return save_with_metrics(model, args.out, x_test, y_test, history, config,
                             weight_bits=weight_bits(thresholds, args.hidden))


if __name__ == "__main__":
    main()
