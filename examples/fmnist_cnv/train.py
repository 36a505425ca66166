"""Train a small binary CNN on Fashion-MNIST and save it as ``net.pt`` with :func:`bnn_hw.save`.

The model (``C1, C2, C3`` channels, ``H`` hidden units, ``K`` thermometer thresholds)::

    ImageInput(1, 28, 28)
    PixelConv2d(1,   C1, 3, padding=1), BatchNorm2d, Sign, MaxPool2d(2)   # 8-bit pixels -> 14x14xC1
    BinaryConv2d(C1, C2, 3, padding=1), BatchNorm2d, Sign, MaxPool2d(2)   # -> 7x7xC2
    BinaryConv2d(C2, C3, 3, padding=1), BatchNorm2d, Sign, MaxPool2d(2)   # -> 3x3xC3
    Flatten, BinaryLinear(9*C3, H), BatchNorm1d, Sign
    BinaryLinear(H, 10)                                    # integer scores

With ``--first thermometer`` the first block is ``Thermometer(thresholds)`` (K bits per pixel) and a
``BinaryConv2d(K, C1, ...)`` instead. Binary convolutions pad with ``--pad-value`` (-1 by default: a binary value, free in hardware; 0 is true
zero padding). After training the script reloads the saved file, measures the test accuracy of the
reloaded model on all 10,000 test images and writes it with the configuration to ``metrics.json``.

Usage::

    python examples/fmnist_cnv/train.py                   # the shipped configuration
    python examples/fmnist_cnv/train.py --channels 16,32,32 --epochs 2
"""

from __future__ import annotations

import argparse
import os

from torch import nn

from bnn_hw.nn import BinaryConv2d, BinaryLinear, ImageInput, PixelConv2d, Sign, Thermometer
from bnn_hw.training import add_training_arguments, train_example

HERE = os.path.dirname(os.path.abspath(__file__))


def build_model(first: str, thresholds, channels, hidden: int, pad_value: int,
                sign_grad: str = "ste") -> nn.Sequential:
    layers: list[nn.Module] = [ImageInput(1, 28, 28)]
    if first == "thermometer":
        layers.append(Thermometer(thresholds))
    width, size = len(thresholds) if first == "thermometer" else 1, 28
    for index, c in enumerate(channels):
        if index == 0 and first == "pixels":
            conv = PixelConv2d(width, c, 3, padding=1)
        else:
            conv = BinaryConv2d(width, c, 3, padding=1, pad_value=pad_value)
        layers += [conv, nn.BatchNorm2d(c), Sign(sign_grad), nn.MaxPool2d(2)]
        width, size = c, size // 2
    layers += [nn.Flatten(),
               BinaryLinear(width * size * size, hidden), nn.BatchNorm1d(hidden), Sign(sign_grad),
               BinaryLinear(hidden, 10)]
    return nn.Sequential(*layers)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", default="64,128,128", help="channels of the three conv blocks (default 64,128,128)")
    p.add_argument("--hidden", type=int, default=256, help="hidden units of the binary FC layer (default 256)")
    p.add_argument("--first", choices=("pixels", "thermometer"), default="pixels",
                   help="first layer: a PixelConv2d on the 8-bit pixels (default), or a Thermometer "
                        "then a BinaryConv2d")
    p.add_argument("--thresholds", default="64,128,192",
                   help="with --first thermometer: thresholds on 0..255 pixels, comma-separated "
                        "(default 64,128,192)")
    p.add_argument("--pad-value", type=int, choices=(-1, 0, 1), default=-1,
                   help="what the convolutions' border positions hold (default -1)")
    p.add_argument("--sign-grad", choices=sorted(Sign.GRADIENTS), default="approx",
                   help="backward of the Sign activations: Bi-Real's ApproxSign (approx, default) or "
                        "straight-through (ste); the forward is the same")
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    add_training_arguments(p, out=os.path.join(HERE, "net.pt"), epochs=30, batch_size=128, lr=2e-3,
                           augmentation="none")
    args = p.parse_args(argv)

    thresholds = [int(t) for t in args.thresholds.split(",") if t.strip()]
    channels = [int(c) for c in args.channels.split(",") if c.strip()]
    config = {"first": args.first, "thresholds": thresholds if args.first == "thermometer" else None,
              "channels": channels, "hidden": args.hidden, "pad_value": args.pad_value, "sign_grad": args.sign_grad}
    return train_example(args, lambda: build_model(args.first, thresholds, channels, args.hidden, args.pad_value,
                                                   args.sign_grad), config)


if __name__ == "__main__":
    main()
