"""Train a BNext-style binary CNN on Fashion-MNIST with distillation and save it as ``net.pt``.

BNext (Guo et al., 2022) puts small real-valued parts around binary convolutions and trains with
knowledge distillation from full-precision teachers. This network keeps the parts that bnn-hw builds
exactly: an 8-bit first convolution and last layer, a fixed-point real-valued residual stream
(Bi-Real's, ``FixedPoint``: ``FRAC`` fraction bits, ``BITS`` bits), a learnable bias before every
sign and a PReLU in every block, all folded by the compiler into thresholds and tables. The model
(``C1, C2`` channels, ``H`` hidden units, ``N1, N2`` blocks per stage)::

    ImageInput(1, 28, 28)
    PixelConv2d(1, C1, 3, padding=1, weight_bits=8), BatchNorm2d, Sign, MaxPool2d(2)   # -> 14x14xC1 bits
    BinaryConv2d(C1, C1, 3), BatchNorm2d, PReLU, FixedPoint                           # real-valued 14x14xC1
    block(C1) x N1                                                                     # each: mix, FixedPoint
    down(C1, C2)                                                                       # real-valued 7x7xC2
    block(C2) x N2
    LearnableBias, Sign, MaxPool2d(2), Flatten
    BinaryLinear(9*C2, H), BatchNorm1d, Sign, FixedPointLinear(H, 10, weight_bits=8)  # integer scores
    (with H = 0: FixedPointLinear(9*C2, 10, weight_bits=8) right after the Flatten)

    block(C) = RecouplingShortcut(LearnableBias, Sign(grad="approx"), BinaryConv2d(C, C, 3, scale="magnitude"),
                                  BatchNorm2d, PReLU, FixedPoint, channels=C, frac_bits=2), FixedPoint
    down(A, B) = RecouplingShortcut(ShortcutBranch(AvgPool2d(2), FixedPointConv2d(A, B), BatchNorm2d, FixedPoint),
                                    LearnableBias, Sign(grad="approx"), BinaryConv2d(A, B, 3, stride=2, ...),
                                    BatchNorm2d, PReLU, FixedPoint, channels=B, frac_bits=2), FixedPoint

Every block is BNext's Info-Recoupling, ``s * x + (1 - s) * body(x)`` with ``s`` learned per channel
on a grid of 2 fraction bits, followed by a ``FixedPoint`` that rounds it back to the map's grid.
``--no-recouple`` gives Bi-Real's sum instead (``RealShortcut`` blocks, the first shipped form).
With ``--se`` each stage ends in a squeeze-and-excitation block,
``ProductShortcut(GlobalSumPool, FixedPointConv2d(C, C/4), BatchNorm2d, ReLU, FixedPoint,
FixedPointConv2d(C/4, C), BatchNorm2d, Sigmoid, FixedPoint(4, 6))`` and a ``FixedPoint``.

Binary convolutions pad by replicating the edge pixels. The student learns from the teachers of
``examples/fmnist_teacher`` (confidence-weighted soft cross-entropy by default) with flips and 2-pixel
shifts. After training the script reloads the saved file, measures the test accuracy of the reloaded
model on all 10,000 test images on the CPU and writes it with the configuration to ``metrics.json``.

Usage::

    python examples/fmnist_bnext/train.py                     # the shipped net.pt (about an hour on 2 CPU cores)
    python examples/fmnist_bnext/train.py --epochs 2           # a quick run
"""

from __future__ import annotations

import argparse
import os

from torch import nn

from bnn_hw.nn import (BinaryConv2d, BinaryLinear, FixedPoint, FixedPointConv2d, FixedPointLinear, GlobalSumPool,
                       ImageInput, LearnableBias, PixelConv2d, ProductShortcut, RealShortcut, RecouplingShortcut,
                       ShortcutBranch, Sign)
from bnn_hw.training import add_training_arguments, train_example

HERE = os.path.dirname(os.path.abspath(__file__))
TEACHERS = [os.path.join(HERE, "..", "fmnist_teacher", name) for name in ("teacher.pt", "teacher-seed1.pt")]


def build_model(c1: int, c2: int, hidden: int, blocks: tuple[int, int] = (2, 2), frac_bits: int = 3,
                bits: int = 6, first_bits: int = 8, last_bits: int = 8, recouple: bool = True,
                se: bool = False) -> nn.Sequential:
    """The network above; ``first_bits`` and ``last_bits`` are the weight bits of the first
    convolution and the last layer; ``recouple`` (BNext's Info-Recoupling, else Bi-Real's sum) and
    ``se`` (squeeze-and-excitation) choose the blocks."""
    def conv(a, b, stride=1):
        return BinaryConv2d(a, b, 3, stride=stride, padding=1, scale="magnitude", padding_mode="replicate")

    def body(a, b, stride=1):
        return (LearnableBias(a), Sign("approx"), conv(a, b, stride), nn.BatchNorm2d(b), nn.PReLU(b),
                FixedPoint(frac_bits, bits))

    def block(c, *layers):
        """A residual block around ``layers`` (``c`` channels out), mixed and rounded with ``recouple``."""
        if not recouple:
            return [RealShortcut(*layers)]
        return [RecouplingShortcut(*layers, channels=c, frac_bits=2), FixedPoint(frac_bits, bits)]

    def down(a, b):
        branch = ShortcutBranch(nn.AvgPool2d(2), FixedPointConv2d(a, b, 4, 2), nn.BatchNorm2d(b),
                                FixedPoint(frac_bits, bits))
        return block(b, branch, *body(a, b, stride=2))

    def excite(c):
        """Squeeze-and-excitation of a stage's ``c`` channels, rounded back to the map's grid."""
        if not se:
            return []
        return [ProductShortcut(GlobalSumPool(), FixedPointConv2d(c, c // 4, 4, 2), nn.BatchNorm2d(c // 4), nn.ReLU(),
                                FixedPoint(frac_bits, bits), FixedPointConv2d(c // 4, c, 4, 2), nn.BatchNorm2d(c),
                                nn.Sigmoid(), FixedPoint(4, 6)),
                FixedPoint(frac_bits, bits)]

    head = ([BinaryLinear(9 * c2, hidden), nn.BatchNorm1d(hidden), Sign("approx"),
             FixedPointLinear(hidden, 10, weight_bits=last_bits)] if hidden
            else [FixedPointLinear(9 * c2, 10, weight_bits=last_bits)])
    return nn.Sequential(
        ImageInput(1, 28, 28),
        PixelConv2d(1, c1, 3, padding=1, weight_bits=first_bits), nn.BatchNorm2d(c1), Sign("approx"),
        nn.MaxPool2d(2),
        conv(c1, c1), nn.BatchNorm2d(c1), nn.PReLU(c1), FixedPoint(frac_bits, bits),
        *(layer for _ in range(blocks[0]) for layer in block(c1, *body(c1, c1))), *excite(c1),
        *down(c1, c2),
        *(layer for _ in range(blocks[1]) for layer in block(c2, *body(c2, c2))), *excite(c2),
        LearnableBias(c2), Sign("approx"), nn.MaxPool2d(2), nn.Flatten(),
        *head)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", default="48,96", help="channels C1,C2 (default 48,96)")
    p.add_argument("--blocks", default="2,2", help="residual blocks N1,N2 of the two stages (default 2,2)")
    p.add_argument("--hidden", type=int, default=256,
                   help="hidden units of the binary FC layer, 0 for none (default 256)")
    p.add_argument("--frac-bits", type=int, default=3, help="fraction bits of the real-valued map (default 3)")
    p.add_argument("--bits", type=int, default=6, help="bits of each block's fixed-point output (default 6)")
    p.add_argument("--first-bits", type=int, default=8, help="weight bits of the first convolution (default 8)")
    p.add_argument("--last-bits", type=int, default=8, help="weight bits of the last layer (default 8)")
    p.add_argument("--recouple", action=argparse.BooleanOptionalAction, default=True,
                   help="Info-Recoupling blocks (RecouplingShortcut, the default); --no-recouple: RealShortcut")
    p.add_argument("--se", action="store_true", help="a squeeze-and-excitation block after each stage")
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    add_training_arguments(p, out=os.path.join(HERE, "net.pt"), epochs=35, batch_size=128, lr=2e-3,
                           augmentation="flip-shift")
    p.add_argument("--labels-only", action="store_true",
                   help="train on the labels alone, without the teachers (for comparison)")
    p.set_defaults(teacher=TEACHERS, distill="confidence")
    args = p.parse_args(argv)
    if args.labels_only:
        args.teacher = None

    c1, c2 = (int(c) for c in args.channels.split(","))
    blocks = tuple(int(n) for n in args.blocks.split(","))
    config = {"channels": [c1, c2], "blocks": list(blocks), "hidden": args.hidden, "frac_bits": args.frac_bits,
              "bits": args.bits, "first_bits": args.first_bits, "last_bits": args.last_bits,
              "recouple": args.recouple, "se": args.se}
    return train_example(args, lambda: build_model(c1, c2, args.hidden, blocks, args.frac_bits, args.bits,
                                                   args.first_bits, args.last_bits, args.recouple, args.se), config)


if __name__ == "__main__":
    main()
