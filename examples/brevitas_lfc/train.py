"""Train FINN's LFC network with Brevitas on Fashion-MNIST, export it as QONNX, and import it.

The network is BNN-PYNQ's ``FC`` exactly as Brevitas ships it (``brevitas_examples.bnn_pynq``), W1A1
with a 1-bit input: ``2x - 1`` on the pixels ``x = k / 255``, binarised, then three binary fully
connected layers of ``--hidden`` neurons (LFC: 1024) with BatchNorm and binary activations, a binary
classifier and a TensorNorm. It is trained the way Brevitas's BNN-PYNQ trainer trains it (Adam,
latent weights clipped to [-1, 1] after each step) but for fewer epochs, on a cross-entropy loss.

Then the script exports ``net.onnx`` with ``brevitas.export.export_qonnx``, imports it with
:func:`bnn_hw.onnx_import.import_onnx` and measures it (:mod:`bnn_hw.brevitas_training`): bnn-hw's
NumPy reference on all 10,000 test images, the Brevitas module itself, and bnn-hw against
``execute_onnx`` on the first ``--golden`` test images, all written to ``metrics.json`` beside it.

Usage::

    python examples/brevitas_lfc/train.py                         # the shipped configuration
    python examples/brevitas_lfc/train.py --hidden 256 --epochs 5 --out /tmp/sfc.onnx

``bnn-hw build --board ulx3s examples/brevitas_lfc/net.onnx`` then builds it; ``bnn-hw import`` writes
the ``net.pt``.
"""

from __future__ import annotations

import argparse
import os

import torch

from bnn_hw.brevitas_training import add_arguments, run

HERE = os.path.dirname(os.path.abspath(__file__))


def build_model(hidden: int, layers: int):
    """BNN-PYNQ's FC (LFC for 3 x 1024), W1A1 with a 1-bit input, as Brevitas defines it."""
    from brevitas_examples.bnn_pynq.models.FC import FC
    return FC(num_classes=10, weight_bit_width=1, act_bit_width=1, in_bit_width=1, in_channels=1,
              out_features=[hidden] * layers)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=1024, help="neurons per hidden layer (default 1024: LFC)")
    p.add_argument("--layers", type=int, default=3, help="hidden layers (default 3)")
    add_arguments(p, out=os.path.join(HERE, "net.onnx"), epochs=20, batch_size=256, lr=0.01)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    model = build_model(args.hidden, args.layers)
    print(f"model: BNN-PYNQ FC, W1A1, {args.layers} x {args.hidden} hidden, 1-bit input", flush=True)
    return run(model, args, {"hidden": args.hidden, "layers": args.layers})


if __name__ == "__main__":
    main()
