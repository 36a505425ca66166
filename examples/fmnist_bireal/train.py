"""Train a small Bi-Real-style binary CNN on Fashion-MNIST and save it as ``net.pt``.

Bi-Real Net (Liu et al., 2018) keeps a real-valued feature map beside the binary convolutions: each
block binarizes it (ApproxSign gradient), convolves with binary weights scaled by their mean
magnitude (the magnitude-aware gradient), normalizes, and adds the result back to it. bnn-hw keeps
that map in fixed point (``FixedPoint``: ``FRAC`` fraction bits, ``BITS`` bits); the compiler folds
each convolution, BatchNorm and rounding into a table per channel and chooses the adders' widths.
The model (``C1, C2`` channels, ``H`` hidden units)::

    ImageInput(1, 28, 28)
    PixelConv2d(1, C1, 3, padding=1), BatchNorm2d, Sign, MaxPool2d(2)          # -> 14x14xC1 bits
    entry(C1, C1), block(C1), block(C1)                                         # real-valued 14x14xC1
    down(C1, C2)                                                                # real-valued 7x7xC2
    block(C2)
    Sign, MaxPool2d(2), Flatten, BinaryLinear(9*C2, H), BatchNorm1d, Sign
    BinaryLinear(H, 10)                                                         # integer scores

    entry(A, B) = BinaryConv2d(A, B, 3, padding=1, scale="magnitude"), BatchNorm2d, FixedPoint
    block(C) = RealShortcut(Sign(grad="approx"), BinaryConv2d(C, C, 3, padding=1, scale="magnitude"),
                            BatchNorm2d, FixedPoint)
    down(A, B) = RealShortcut(ShortcutBranch(AvgPool2d(2), FixedPointConv2d(A, B, 4, 2), BatchNorm2d,
                                             FixedPoint),
                              Sign(grad="approx"), BinaryConv2d(A, B, 3, stride=2, padding=1,
                              scale="magnitude"), BatchNorm2d, FixedPoint)

Convolutions pad by replicating the edge pixels. ``down`` is Bi-Real's downsampling block: the real
feature map goes on through average pooling and a real 1x1 convolution (4-bit weights, 2 of them
fraction bits, so the hardware multiplies integers) beside the stride-2 binary convolution; with
``--binary-downsampling`` the network binarizes and OR-pools there instead, and continues with
``entry(C1, C2)`` (the configuration shipped before). After training the script reloads the saved
file, measures the test accuracy of the reloaded model on all 10,000 test images and writes it with
the configuration to ``metrics.json``.

Usage::

    python examples/fmnist_bireal/train.py                 # the shipped configuration
    python examples/fmnist_bireal/train.py --epochs 2
"""

from __future__ import annotations

import argparse
import os

from torch import nn

from bnn_hw.nn import (BinaryConv2d, BinaryLinear, FixedPoint, FixedPointConv2d, ImageInput, PixelConv2d, RealShortcut,
                       ShortcutBranch, Sign)
from bnn_hw.training import add_training_arguments, train_example

HERE = os.path.dirname(os.path.abspath(__file__))


def build_model(c1: int, c2: int, hidden: int, frac_bits: int = 3, bits: int = 6, sign_grad: str = "approx",
                scale: bool | str = "magnitude", shortcuts: bool = True,
                real_downsampling: bool = True) -> nn.Sequential:
    """The network above; ``scale`` is the convolutions' (``False`` for none), without
    ``shortcuts`` each block is its body alone (for comparison), and without ``real_downsampling``
    the resolution halves by a binary OR-pool."""
    def conv(a, b, stride=1):
        return BinaryConv2d(a, b, 3, stride=stride, padding=1, scale=scale, padding_mode="replicate")

    def entry(a, b):
        return [conv(a, b), nn.BatchNorm2d(b), FixedPoint(frac_bits, bits)]

    def block(c):
        body = (Sign(sign_grad), conv(c, c), nn.BatchNorm2d(c), FixedPoint(frac_bits, bits))
        return RealShortcut(*body) if shortcuts else nn.Sequential(*body)

    def down(a, b):
        body = (Sign(sign_grad), conv(a, b, stride=2), nn.BatchNorm2d(b), FixedPoint(frac_bits, bits))
        if not shortcuts:
            return list(body)
        branch = ShortcutBranch(nn.AvgPool2d(2), FixedPointConv2d(a, b, 4, 2), nn.BatchNorm2d(b),
                                FixedPoint(frac_bits, bits))
        return [RealShortcut(branch, *body)]

    downsampling = down(c1, c2) if real_downsampling else [Sign(sign_grad), nn.MaxPool2d(2), *entry(c1, c2)]
    return nn.Sequential(
        ImageInput(1, 28, 28),
        PixelConv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), Sign(sign_grad), nn.MaxPool2d(2),
        *entry(c1, c1), block(c1), block(c1),
        *downsampling, block(c2),
        Sign(sign_grad), nn.MaxPool2d(2), nn.Flatten(),
        BinaryLinear(9 * c2, hidden), nn.BatchNorm1d(hidden), Sign(sign_grad),
        BinaryLinear(hidden, 10))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", default="32,64", help="channels C1,C2 (default 32,64)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units of the binary FC layer (default 128)")
    p.add_argument("--frac-bits", type=int, default=3, help="fraction bits of the real-valued map (default 3)")
    p.add_argument("--bits", type=int, default=6, help="bits of each block's fixed-point output (default 6)")
    p.add_argument("--sign-grad", choices=sorted(Sign.GRADIENTS), default="approx",
                   help="backward of the signs: Bi-Real's ApproxSign (approx, default) or straight-through (ste)")
    p.add_argument("--binary-downsampling", action="store_true",
                   help="halve the resolution by Sign and an OR max-pool instead of Bi-Real's real-valued "
                        "downsampling block")
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    add_training_arguments(p, out=os.path.join(HERE, "net.pt"), epochs=15, batch_size=128, lr=2e-3,
                           augmentation="none")
    args = p.parse_args(argv)

    c1, c2 = (int(c) for c in args.channels.split(","))
    config = {"channels": [c1, c2], "hidden": args.hidden, "frac_bits": args.frac_bits, "bits": args.bits,
              "sign_grad": args.sign_grad, "downsampling": "binary" if args.binary_downsampling else "real"}
    return train_example(args, lambda: build_model(c1, c2, args.hidden, args.frac_bits, args.bits, args.sign_grad,
                                                   real_downsampling=not args.binary_downsampling),
                         config)


if __name__ == "__main__":
    main()
