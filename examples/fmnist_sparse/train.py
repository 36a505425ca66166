"""Train a sparse binary MLP on Fashion-MNIST and save it as ``net.pt`` with :func:`bnn_hw.save`.

The hidden layers' weights take one of two learned values, ``alpha`` or ``beta`` (the generalised
``{alpha, beta}`` domain of Schiavone, Galati and Zuluaga, ECML PKDD 2023), and a penalty keeps the
fraction of ``beta`` weights (the "connections", or synapses kept) at or under the expected
connections ``--expected`` (EC). The model::

    Thermometer(thresholds)                              # 784 pixels -> 784*K bits
    SparseBinaryLinear(784*K, H), BatchNorm1d(H), Sign()  # weights alpha or beta, few beta
    SparseBinaryLinear(H, H),     BatchNorm1d(H), Sign()
    BinaryLinear(H, 10)                                  # dense integer scores, no BN, no scale

A neuron of a sparse layer computes ``alpha * sum(x) + (beta - alpha) * sum(x over its beta
inputs)``: the first sum is shared by the whole layer, so what each neuron costs is its beta inputs.

Training (:func:`bnn_hw.training.train`): Adam with cosine decay, the scores times a learned
temperature in the loss, plus ``gamma * relu(beta_fraction - EC)`` for each sparse layer. With
``--init split`` each sparse layer starts from random full-precision weights split by
:meth:`~bnn_hw.nn.SparseBinaryLinear.init_from` (the largest EC of them beta), so it is sparse from
the first step; ``--init binary`` starts from the plain binary layer (``alpha = -1, beta = +1``,
about half the weights beta) and lets the penalty prune it.

After training the script measures each sparse layer's fraction of beta weights (the penalty only
pushes it; it is not forced), reloads the saved file with :func:`bnn_hw.load` (eval mode), measures
the test accuracy of the reloaded model on all 10,000 test images and writes it, with the
configuration and per sparse layer the beta fraction, synapses kept and ``alpha``/``beta``, to
``metrics.json`` next to the model file.

Usage::

    python examples/fmnist_sparse/train.py                 # the shipped configuration
    python examples/fmnist_sparse/train.py --hidden 256 --expected 0.05 --epochs 15 --validation 10000
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn

from bnn_hw.datasets import fashion_mnist
from bnn_hw.nn import BinaryLinear, Sign, SparseBinaryLinear, Thermometer
from bnn_hw.training import (accuracy, add_training_arguments, save_with_metrics, seed_run, sparse_layers,
                             train_from_args, training_config, weight_bits)

HERE = os.path.dirname(os.path.abspath(__file__))
INITS = ("split", "binary")


def build_model(thresholds, hidden: int) -> nn.Sequential:
    k = len(thresholds)
    return nn.Sequential(
        Thermometer(thresholds),
        SparseBinaryLinear(784 * k, hidden), nn.BatchNorm1d(hidden), Sign(),
        SparseBinaryLinear(hidden, hidden), nn.BatchNorm1d(hidden), Sign(),
        BinaryLinear(hidden, 10),
    )


def init_sparse(model: nn.Sequential, init: str, expected: float, seed: int, latent_scale: float = 1.0) -> None:
    """``split``: every sparse layer from Gaussian weights, the largest ``expected`` of them beta, the
    latent weights (in [-1, 1] after the split) then multiplied by ``latent_scale``."""
    if init == "binary":
        return
    generator = torch.Generator().manual_seed(seed)
    for layer in sparse_layers(model):
        layer.init_from(torch.randn(layer.weight.shape, generator=generator), expected)
        with torch.no_grad():
            layer.weight.mul_(latent_scale)


def sparse_summary(model: nn.Sequential) -> dict:
    """Per sparse layer: the fraction and number of beta weights, alpha and beta; and the total."""
    layers = []
    for layer in sparse_layers(model):
        kept = int((layer.weight.detach() >= 0).sum())
        alpha, beta = layer.alpha_beta()
        layers.append({"in_features": layer.in_features, "out_features": layer.out_features,
                       "weights": layer.weight.numel(), "synapses_kept": kept,
                       "beta_fraction": round(kept / layer.weight.numel(), 6), "alpha": alpha, "beta": beta,
                       "max_synapses_per_neuron": int((layer.weight.detach() >= 0).sum(1).max())})
    return {"sparse_layers": layers, "synapses_kept": sum(row["synapses_kept"] for row in layers)}


def expected_connections(text: str) -> float:
    """``--expected``: a fraction in (0, 1], else argparse's one-line error."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"the expected connections must be in (0, 1], not {text}")
    return value


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=256, help="hidden layer width H (default 256)")
    p.add_argument("--thresholds", default="16",
                   help="thermometer thresholds on 0..255 pixels, comma-separated (default 16: one bit, "
                        "pixel >= 16)")
    p.add_argument("--expected", type=expected_connections, default=0.03,
                   help="expected connections EC: the fraction of beta weights each sparse layer is pushed "
                        "to stay under (default 0.03)")
    p.add_argument("--gamma", type=float, default=10.0,
                   help="weight of the sparsity penalty gamma * relu(beta_fraction - EC) per sparse layer "
                        "(default 10)")
    p.add_argument("--init", choices=INITS, default="split",
                   help="split: start each sparse layer with EC of its weights beta (init_from on random "
                        "weights); binary: start from alpha=-1, beta=+1 and let the penalty prune "
                        "(default split)")
    p.add_argument("--latent-scale", type=float, default=0.02,
                   help="with --init split, the latent weights (in [-1, 1] after the split) are multiplied by "
                        "this, so they start near 0 and can change state early (default 0.02)")
    p.add_argument("--validation", type=int, default=0,
                   help="hold out the last N training images and record the trained network's accuracy on them "
                        "as validation_accuracy (how the README's experiments were compared; default 0)")
    # the shipped net.pt was trained on one thread (a run is bit-identical for a given thread count)
    add_training_arguments(p, out=os.path.join(HERE, "net.pt"), epochs=30, batch_size=256, lr=1e-3,
                           augmentation="none", threads=1)
    args = p.parse_args(argv)

    thresholds = [int(t) for t in args.thresholds.split(",") if t.strip()]
    seed_run(args)
    torch.use_deterministic_algorithms(True)

    images, labels = fashion_mnist("train")
    kept = len(images) - args.validation
    x_train, y_train = (torch.from_numpy(a[:kept]) for a in (images, labels))
    x_val, y_val = (torch.from_numpy(a[kept:]) for a in (images, labels))
    x_test, y_test = (torch.from_numpy(a) for a in fashion_mnist("test"))

    model = build_model(thresholds, args.hidden)
    init_sparse(model, args.init, args.expected, args.seed, args.latent_scale)
    print(f"model: thresholds={thresholds} hidden={args.hidden} weights={weight_bits(model)} "
          f"EC={args.expected} gamma={args.gamma} init={args.init}", flush=True)
    history = train_from_args(model, args, x_train, y_train, sparsity=(args.expected, args.gamma))

    summary = sparse_summary(model)
    for index, row in enumerate(summary["sparse_layers"]):
        met = "meets" if row["beta_fraction"] <= args.expected else "is over"
        print(f"sparse layer {index}: beta fraction {row['beta_fraction']:.4f} ({met} EC {args.expected}), "
              f"{row['synapses_kept']} of {row['weights']} synapses kept, alpha {row['alpha']}, beta {row['beta']}")
    print(f"synapses kept in all: {summary['synapses_kept']}", flush=True)
    summary["beta_fraction_within_expected"] = all(row["beta_fraction"] <= args.expected
                                                   for row in summary["sparse_layers"])
    if args.validation:
        summary["validation_images"] = args.validation
        summary["validation_accuracy"] = accuracy(model, x_val, y_val)
        print(f"accuracy on the {args.validation} held-out training images: {summary['validation_accuracy']:.4f}")
    config = ({"thresholds": thresholds, "hidden": args.hidden, "expected": args.expected, "gamma": args.gamma,
               "init": args.init,
               "latent_scale": args.latent_scale, "validation": args.validation} | training_config(args, len(x_train)))
    return save_with_metrics(model, args.out, x_test, y_test, history, config,
                             weight_bits=weight_bits(model), **summary,
                             beta_fraction_by_epoch=[row["beta_fraction"] for row in history])


if __name__ == "__main__":
    main()
