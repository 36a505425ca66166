"""Compare BNext's block parts in short training runs on Fashion-MNIST.

    python benchmarks/bnext_variants.py [--epochs 2] [--train-images 20000] [--test-images 5000]
                                        [--channels 24,48]

Each variant is the network of ``examples/fmnist_bnext/train.py`` (its README has the model) at
``--channels`` (narrower than the shipped 48,96, so that a run fits on a CPU), one block per stage,
64 hidden units: Bi-Real's blocks, with one of BNext's parts added (Info-Recoupling blocks, the
example's default now; a squeeze-and-excitation block after each stage), or both. Trained on the labels alone with
Adam 2e-3, cosine decay, batch 128, seed 0 before each model is built; it prints the test accuracy of
the eval-mode model and the seconds each run took. One run each: a point or two is noise.
"""

from __future__ import annotations

import time

import torch

from bnn_hw.training import accuracy, train
from short_runs import example_builder, short_run_data

#: name -> keyword arguments of the example's ``build_model``
VARIANTS = {
    "RealShortcut blocks (the first shipped form)": {"recouple": False},
    "Info-Recoupling blocks (RecouplingShortcut, FixedPoint after)": {"recouple": True},
    "squeeze-and-excitation after each stage": {"recouple": False, "se": True},
    "both": {"recouple": True, "se": True},
}


def main(argv=None):
    args, x_train, y_train, x_test, y_test = short_run_data(
        __doc__.split("\n\n")[0], argv,
        lambda p: p.add_argument("--channels", default="24,48", help="channels C1,C2 (default 24,48)"))
    c1, c2 = (int(c) for c in args.channels.split(","))
    build_model = example_builder("fmnist_bnext")
    for name, options in VARIANTS.items():
        torch.manual_seed(0)
        model = build_model(c1, c2, 64, (1, 1), **options)
        start = time.perf_counter()
        train(model, x_train, y_train, epochs=args.epochs, batch_size=128, lr=2e-3, seed=0, log=lambda s: None)
        print(f"{name:<66}{accuracy(model, x_test, y_test):.2%}  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
