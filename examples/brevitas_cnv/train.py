"""Train a CNV-like network with Brevitas on Fashion-MNIST, export it as QONNX, and import it.

BNN-PYNQ's CNV is two pairs of unpadded 3x3 binary convolutions, each pair followed by a 2x2 max
pooling, then a third pair and binary fully connected layers, on 32x32 colour images with an 8-bit
first layer. This network keeps its pattern at Fashion-MNIST's size and bnn-hw's binary input:
``x - (t - 0.5) / 255`` on the pixels ``x = k / 255``, binarised (pixel ``k >= t``, ``--input-threshold``,
default 16: BNN-PYNQ's ``2x - 1`` is ``t = 128``, which costs the binary MLP about 4 points on
Fashion-MNIST); two pairs of 3x3 convolutions
(28 -> 26 -> 24, pool 12 -> 10 -> 8, pool 4) of ``--channels`` channels with BatchNorm and binary
activations; a binary fully connected layer of ``--hidden`` neurons; a binary classifier and a
TensorNorm. All layers are Brevitas's, with BNN-PYNQ's quantizers (W1A1, scale 1.0).

Training, export and measurement as in ``examples/brevitas_lfc`` (:mod:`bnn_hw.brevitas_training`).

Usage::

    python examples/brevitas_cnv/train.py                         # the shipped configuration
    python examples/brevitas_cnv/train.py --channels 16,32 --epochs 2 --out /tmp/cnv.onnx
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn

from bnn_hw.brevitas_training import add_arguments, run

HERE = os.path.dirname(os.path.abspath(__file__))


class CNVLike(nn.Module):
    """The network of the module docstring, from Brevitas layers."""

    def __init__(self, channels: tuple[int, int], hidden: int, input_threshold: int, classes: int = 10):
        super().__init__()
        self.offset = (input_threshold - 0.5) / 255
        from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
        from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant
        from brevitas_examples.bnn_pynq.models.tensor_norm import TensorNorm

        weights = dict(weight_quant=CommonWeightQuant, weight_bit_width=1, bias=False)

        def activation():
            return QuantIdentity(act_quant=CommonActQuant, bit_width=1)

        layers, previous = [activation()], 1
        for c in channels:
            for k in range(2):
                layers += [QuantConv2d(previous, c, 3, **weights), nn.BatchNorm2d(c), activation()]
                previous = c
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Flatten(), QuantLinear(previous * 4 * 4, hidden, **weights), nn.BatchNorm1d(hidden),
                   activation(), QuantLinear(hidden, classes, **weights), TensorNorm()]
        self.layers = nn.Sequential(*layers)
        for layer in self.modules():
            if isinstance(layer, (QuantConv2d, QuantLinear)):
                nn.init.uniform_(layer.weight, -1, 1)

    def forward(self, x):
        return self.layers(x - self.offset)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", default="32,64", help="channels of the two convolution pairs (default 32,64)")
    p.add_argument("--hidden", type=int, default=256, help="neurons of the hidden dense layer (default 256)")
    p.add_argument("--input-threshold", type=int, default=16, choices=range(1, 256), metavar="T",
                   help="binarise the input at pixel >= T (default 16)")
    add_arguments(p, out=os.path.join(HERE, "net.onnx"), epochs=12, batch_size=128, lr=0.005)
    args = p.parse_args(argv)
    channels = tuple(int(c) for c in args.channels.split(","))
    if len(channels) != 2:
        p.error("--channels takes two numbers, the channels of the two convolution pairs")
    torch.manual_seed(args.seed)
    model = CNVLike(channels, args.hidden, args.input_threshold)
    print(f"model: CNV-like, W1A1, convolutions {channels[0]}x2, pool, {channels[1]}x2, pool, "
          f"dense {args.hidden}, input pixel >= {args.input_threshold}", flush=True)
    return run(model, args, {"channels": list(channels), "hidden": args.hidden,
                             "input_threshold": args.input_threshold})


if __name__ == "__main__":
    main()
