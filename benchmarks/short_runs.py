"""What the benchmarks that compare training variants share: their options and data, and the
example networks' builders."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

from bnn_hw.datasets import fashion_mnist

__all__ = ["short_run_data", "example_builder"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def short_run_data(description: str, argv=None, add_arguments=None):
    """Parse ``--epochs --train-images --test-images`` (defaults 2, 20,000, 5,000) and what
    ``add_arguments(parser)`` adds, set 2 torch threads, print what the runs use, and return
    ``(args, x_train, y_train, x_test, y_test)``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-images", type=int, default=20000)
    p.add_argument("--test-images", type=int, default=5000)
    if add_arguments is not None:
        add_arguments(p)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    x_train, y_train = (torch.from_numpy(a[:args.train_images]) for a in fashion_mnist("train"))
    x_test, y_test = (torch.from_numpy(a[:args.test_images]) for a in fashion_mnist("test"))
    print(f"{args.epochs} epochs on {len(x_train)} training images; test accuracy on {len(x_test)} test images")
    return args, x_train, y_train, x_test, y_test


def example_builder(example: str):
    """The ``build_model`` function of ``examples/<example>/train.py``."""
    spec = importlib.util.spec_from_file_location(f"{example}_train", EXAMPLES / example / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model
