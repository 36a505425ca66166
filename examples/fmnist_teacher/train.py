"""Train a full-precision CNN teacher on Fashion-MNIST for the examples' distillation; write ``teacher.pt``.

The network is :func:`bnn_hw.distillation.teacher_network` (float 3x3 convolutions, BatchNorm, ReLU,
max pooling, global average pooling, a linear classifier). It is never compiled to hardware: students
load it with ``--teacher examples/fmnist_teacher/teacher.pt``. The file holds tensors and the network's
widths only (:func:`bnn_hw.distillation.save_teacher`); a JSON file of the same name beside it
(``teacher.json``) records the recipe and the test accuracy measured on the reloaded teacher.

Usage::

    python examples/fmnist_teacher/train.py                       # the shipped teacher
    python examples/fmnist_teacher/train.py --seed 1 --out examples/fmnist_teacher/teacher-seed1.pt
"""

from __future__ import annotations

import argparse
import os

import torch

from bnn_hw.distillation import load_teacher, save_teacher, teacher_network
from bnn_hw.training import (accuracy, add_training_arguments, seeded_data, train_from_args, training_config,
                             write_json)

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", default="32,64,128", help="widths of the three stages (default 32,64,128)")
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    add_training_arguments(p, out=os.path.join(HERE, "teacher.pt"), epochs=25, batch_size=128, lr=2e-3,
                           augmentation="flip-shift")
    args = p.parse_args(argv)
    channels = tuple(int(c) for c in args.channels.split(",") if c.strip())

    x_train, y_train, x_test, y_test = seeded_data(args)
    model = teacher_network(channels)
    print(model, f"\nparameters: {sum(t.numel() for t in model.parameters())}", flush=True)
    history = train_from_args(model, args, x_train, y_train, tau=1.0)
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    metrics = {"test_images": len(x_test), "measured_on": "teacher reloaded with bnn_hw.distillation.load_teacher",
               "config": {"channels": list(channels)} | training_config(args, len(x_train))
               | {"optimizer": "Adam, cosine decay to 0"},   # a float network: no latent binary weights
               "train_seconds": round(sum(row["seconds"] for row in history), 1),
               "final_train_acc": history[-1]["train_acc"], "torch": torch.__version__}
    save_teacher(model, channels, out)
    metrics["test_accuracy"] = accuracy(load_teacher(out), x_test, y_test)
    print(f"saved {out}; test accuracy of the reloaded teacher on {len(x_test)} images: "
          f"{metrics['test_accuracy']:.4f}", flush=True)
    write_json(os.path.splitext(out)[0] + ".json", metrics)
    return metrics


if __name__ == "__main__":
    main()
