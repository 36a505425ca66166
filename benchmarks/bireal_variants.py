"""Compare Bi-Real-style design choices in short training runs on Fashion-MNIST.

    python benchmarks/bireal_variants.py [--epochs 2] [--train-images 20000] [--test-images 5000]

Each variant is the network of ``examples/fmnist_bireal/train.py`` (a pixel convolution, a
fixed-point map at 14x14x32 with two real-valued shortcut blocks, Bi-Real's real-valued
downsampling block, a map at 7x7x64 with one block, two binary FC layers) with one choice changed:
the fixed-point grid, the weight scale, the sign's gradient, binary downsampling, or no shortcuts.
Trained with the example's recipe (Adam 2e-3, cosine decay, batch 128) for a couple of epochs, seed
0 before each model is built; it prints the test accuracy of the eval-mode model. One run each: a point or two of difference is noise.
"""

from __future__ import annotations


import torch

from bnn_hw.training import accuracy, train
from short_runs import example_builder, short_run_data

#: name -> keyword arguments of the example's ``build_model`` (beyond channels 32, 64 and 128 hidden)
VARIANTS = {
    "shipped: FixedPoint(3 fraction bits, 6 bits), magnitude-aware scale, ApproxSign": {},
    "finer grid: FixedPoint(5, 10)": {"frac_bits": 5, "bits": 10},
    "coarser grid: FixedPoint(2, 4)": {"frac_bits": 2, "bits": 4},
    "no weight scale": {"scale": False},
    "straight-through sign gradient": {"sign_grad": "ste"},
    "binary downsampling (Sign, OR max-pool, a new fixed-point map)": {"real_downsampling": False},
    "no shortcuts (each block its body alone)": {"shortcuts": False},
}


def main(argv=None):
    args, x_train, y_train, x_test, y_test = short_run_data(__doc__.split("\n\n")[0], argv)
    build_model = example_builder("fmnist_bireal")
    for name, options in VARIANTS.items():
        torch.manual_seed(0)
        model = build_model(32, 64, 128, **options)
        train(model, x_train, y_train, epochs=args.epochs, batch_size=128, lr=2e-3, seed=0, log=lambda s: None)
        print(f"{name:<80}{accuracy(model, x_test, y_test):.2%}", flush=True)


if __name__ == "__main__":
    main()
