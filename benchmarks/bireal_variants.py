"""Compare Bi-Real-style design choices in short training runs on Fashion-MNIST.

    python benchmarks/bireal_variants.py [--epochs 2] [--train-images 20000] [--test-images 5000]

Each variant is the network of ``examples/fmnist_bireal/train.py`` (a pixel convolution, a
fixed-point map at 14x14x32 with two real-valued shortcut blocks, binary downsampling, a map at
7x7x64 with one block, two binary FC layers) with one choice changed: the fixed-point grid, the
weight scale, the sign's gradient, or no shortcuts. Trained with the example's recipe (Adam 2e-3,
cosine decay, batch 128) for a couple of epochs, seed 0 before each model is built; it prints the
test accuracy of the eval-mode model. One run each: a point or two of difference is noise.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

from bnn_hw.datasets import fashion_mnist
from bnn_hw.training import accuracy, train

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fmnist_bireal" / "train.py"

#: name -> keyword arguments of the example's ``build_model`` (beyond channels 32, 64 and 128 hidden)
VARIANTS = {
    "shipped: FixedPoint(3 fraction bits, 6 bits), magnitude-aware scale, ApproxSign": {},
    "finer grid: FixedPoint(5, 10)": {"frac_bits": 5, "bits": 10},
    "coarser grid: FixedPoint(2, 4)": {"frac_bits": 2, "bits": 4},
    "no weight scale": {"scale": False},
    "straight-through sign gradient": {"sign_grad": "ste"},
    "no shortcuts (each block its body alone)": {"shortcuts": False},
}


def _build_model():
    spec = importlib.util.spec_from_file_location("fmnist_bireal_train", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-images", type=int, default=20000)
    p.add_argument("--test-images", type=int, default=5000)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    build_model = _build_model()
    x_train, y_train = (torch.from_numpy(a[:args.train_images]) for a in fashion_mnist("train"))
    x_test, y_test = (torch.from_numpy(a[:args.test_images]) for a in fashion_mnist("test"))
    print(f"{args.epochs} epochs on {len(x_train)} training images; test accuracy on {len(x_test)} test images")
    for name, options in VARIANTS.items():
        torch.manual_seed(0)
        model = build_model(32, 64, 128, **options)
        train(model, x_train, y_train, epochs=args.epochs, batch_size=128, lr=2e-3, seed=0, log=lambda s: None)
        print(f"{name:<80}{accuracy(model, x_test, y_test):.2%}", flush=True)


if __name__ == "__main__":
    main()
