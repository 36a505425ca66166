"""Compare BoolNet-style block forms in short training runs on Fashion-MNIST.

    python benchmarks/boolnet_variants.py [--epochs 2] [--train-images 20000] [--test-images 5000]

Each variant is the network of ``examples/fmnist_boolnet/train.py`` (a pixel convolution, two blocks
at 14x14x32, binary downsampling, a block at 7x7x64, two binary FC layers) with another block form,
trained with the example's recipe (Adam 2e-3, cosine decay, batch 128, ApproxSign) for a couple of
epochs, seed 0 before each model is built. It prints test accuracy of the eval-mode model. One run
each: a point or two of difference is noise.
"""

from __future__ import annotations

import torch
from torch import nn

from bnn_hw.nn import (BOOLNET_OFFSETS, BinaryConv2d, BinaryLinear, ChannelShuffle, ImageInput, LogicShortcut,
                       MultiSliceSign, PixelConv2d, Sign)
from bnn_hw.training import accuracy, train
from short_runs import short_run_data

K = len(BOOLNET_OFFSETS)


def grouped_body(c):
    """The shipped form: 3x3 convolution, 4-slice sign, shuffle, grouped 1x1 convolution."""
    return [BinaryConv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), MultiSliceSign(BOOLNET_OFFSETS, "approx"),
            ChannelShuffle(c), BinaryConv2d(K * c, c, 1, groups=K), nn.BatchNorm2d(c), Sign("approx")]


def sliced_body(c):
    """A 3x3 convolution to C/4 channels and a 4-slice sign."""
    return [BinaryConv2d(c, c // K, 3, padding=1), nn.BatchNorm2d(c // K), MultiSliceSign(BOOLNET_OFFSETS, "approx")]


def plain_body(c):
    return [BinaryConv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), Sign("approx")]


def network(body, op: str | None, identity_bias: float = 0.0) -> nn.Sequential:
    """The example's network with ``body`` in each block: a logic shortcut ``op``, or none. The body's
    last BatchNorm starts with bias ``identity_bias`` (negated for OR), as the example does."""
    def block(c):
        layers = body(c)
        last = [m for m in layers if isinstance(m, nn.BatchNorm2d)][-1]
        nn.init.constant_(last.bias, identity_bias if op != "or" else -identity_bias)
        return LogicShortcut(*layers, op=op) if op else nn.Sequential(*layers)

    return nn.Sequential(
        ImageInput(1, 28, 28), PixelConv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), Sign("approx"), nn.MaxPool2d(2),
        block(32), block(32), nn.MaxPool2d(2), BinaryConv2d(32, 64, 1), nn.BatchNorm2d(64), Sign("approx"),
        block(64), nn.MaxPool2d(2), nn.Flatten(), BinaryLinear(576, 128), nn.BatchNorm1d(128), Sign("approx"),
        BinaryLinear(128, 10))


VARIANTS = {
    "grouped multi-slice body (shipped form), XNOR, bias starting at 0": (grouped_body, "xnor", 0.0),
    "the same, OR shortcut": (grouped_body, "or", 0.0),
    "the same, XNOR, bias starting at 1.5 (shipped)": (grouped_body, "xnor", 1.5),
    "3x3 convolution to C/4 + 4-slice sign, XNOR, bias 1.5": (sliced_body, "xnor", 1.5),
    "plain 3x3 binary convolutions, no shortcuts": (plain_body, None, 0.0),
}


def main(argv=None):
    args, x_train, y_train, x_test, y_test = short_run_data(__doc__.split("\n\n")[0], argv)
    for name, (body, op, bias) in VARIANTS.items():
        torch.manual_seed(0)
        model = network(body, op, bias)
        train(model, x_train, y_train, epochs=args.epochs, batch_size=128, lr=2e-3, seed=0, log=lambda s: None)
        print(f"{name:<70}{accuracy(model, x_test, y_test):.2%}", flush=True)


if __name__ == "__main__":
    main()
