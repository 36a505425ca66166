"""Train a small BoolNet-style binary CNN on Fashion-MNIST and save it as ``net.pt``.

BoolNet (Guo et al., 2021) keeps every feature map 1 bit wide: no real-valued shortcuts. Its blocks
add their input back with a logic operation (XNOR, the product of +-1 values), keep more of each
channel with a multi-slice sign (K thresholds, a K-bit thermometer code) read by a convolution with
one group per slice, and downsample with OR max-pooling and a binary 1x1 convolution. The model
(``C1, C2`` channels, ``H`` hidden units, ``K = 4`` slices)::

    ImageInput(1, 28, 28)
    PixelConv2d(1, C1, 3, padding=1), BatchNorm2d, Sign, MaxPool2d(2)           # -> 14x14xC1
    block(C1), block(C1)
    MaxPool2d(2), BinaryConv2d(C1, C2, 1), BatchNorm2d, Sign                    # binary downsampling -> 7x7xC2
    block(C2)
    MaxPool2d(2), Flatten, BinaryLinear(9*C2, H), BatchNorm1d, Sign
    BinaryLinear(H, 10)                                                          # integer scores

    block(C) = LogicShortcut(BinaryConv2d(C, C, 3, padding=1), BatchNorm2d, MultiSliceSign(K),
                             ChannelShuffle(C), BinaryConv2d(K*C, C, 1, groups=K), BatchNorm2d, Sign,
                             op="xnor")

The shuffle puts the slices first, so that each group of the 1x1 convolution reads one slice of
every channel. Each block starts near the identity: its last BatchNorm's bias starts at 1.5. Binary convolutions pad with -1. After training the script reloads the saved file,
measures the test accuracy of the reloaded model on all 10,000 test images and writes it with the
configuration to ``metrics.json``.

Usage::

    python examples/fmnist_boolnet/train.py                 # the shipped configuration
    python examples/fmnist_boolnet/train.py --epochs 2
"""

from __future__ import annotations

import argparse
import os

from torch import nn

from bnn_hw.nn import (BOOLNET_OFFSETS, BinaryConv2d, BinaryLinear, ChannelShuffle, ImageInput, LogicShortcut,
                       MultiSliceSign, PixelConv2d, Sign)
from bnn_hw.training import add_training_arguments, train_example

HERE = os.path.dirname(os.path.abspath(__file__))
#: The initial bias of each block's last BatchNorm (1.5 standard deviations: the block starts near
#: the identity). Two epochs on 20,000 training images: 77.5% on 5,000 test images with it, 73.6%
#: without (``benchmarks/boolnet_variants.py``).
IDENTITY_BIAS = 1.5


def build_model(c1: int, c2: int, hidden: int, op: str = "xnor", sign_grad: str = "approx",
                identity_bias: float = IDENTITY_BIAS) -> nn.Sequential:
    k = len(BOOLNET_OFFSETS)

    def block(c):
        last = nn.BatchNorm2d(c)
        # each block starts near the identity, as a residual block does: the body's last BatchNorm
        # starts with a bias of identity_bias, so the body gives +1 (XNOR) or -1 (OR) and the input
        # passes through
        nn.init.constant_(last.bias, identity_bias if op == "xnor" else -identity_bias)
        return LogicShortcut(BinaryConv2d(c, c, 3, padding=1), nn.BatchNorm2d(c),
                             MultiSliceSign(BOOLNET_OFFSETS, sign_grad), ChannelShuffle(c),
                             BinaryConv2d(k * c, c, 1, groups=k), last, Sign(sign_grad), op=op)

    return nn.Sequential(
        ImageInput(1, 28, 28),
        PixelConv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), Sign(sign_grad), nn.MaxPool2d(2),
        block(c1), block(c1),
        nn.MaxPool2d(2), BinaryConv2d(c1, c2, 1), nn.BatchNorm2d(c2), Sign(sign_grad),
        block(c2),
        nn.MaxPool2d(2), nn.Flatten(),
        BinaryLinear(9 * c2, hidden), nn.BatchNorm1d(hidden), Sign(sign_grad),
        BinaryLinear(hidden, 10))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", default="32,64", help="channels C1,C2 (default 32,64)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units of the binary FC layer (default 128)")
    p.add_argument("--op", choices=LogicShortcut.OPS, default="xnor", help="the logic shortcut (default xnor)")
    p.add_argument("--sign-grad", choices=sorted(Sign.GRADIENTS), default="approx",
                   help="backward of the signs: Bi-Real's ApproxSign (approx, default) or straight-through (ste)")
    p.add_argument("--identity-bias", type=float, default=IDENTITY_BIAS,
                   help=f"initial bias of each block's last BatchNorm (default {IDENTITY_BIAS}; 0 starts the "
                        f"blocks without the identity)")
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    add_training_arguments(p, out=os.path.join(HERE, "net.pt"), epochs=15, batch_size=128, lr=2e-3,
                           augmentation="none")
    args = p.parse_args(argv)

    c1, c2 = (int(c) for c in args.channels.split(","))
    config = {"channels": [c1, c2], "hidden": args.hidden, "op": args.op, "slices": list(BOOLNET_OFFSETS),
              "sign_grad": args.sign_grad, "identity_bias": args.identity_bias}
    return train_example(args, lambda: build_model(c1, c2, args.hidden, args.op, args.sign_grad, args.identity_bias),
                         config)


if __name__ == "__main__":
    main()
