"""Train a learned logic-gate network on Fashion-MNIST and save it as ``net.pt`` with :func:`bnn_hw.save`.

The model (``K`` thermometer thresholds, gate counts ``G1, G2, ...``)::

    Thermometer(thresholds)                       # 784 pixels -> 784*K bits
    LogicLayer(784*K, G1, candidates=C1)          # two-input gates with learned connections
    LogicLayer(G1, G2, candidates=C2)
    ...
    GroupSum(10)                                  # class scores: popcounts of 10 groups of G_last/10 bits

Training (:func:`bnn_hw.training.train`): Adam with cosine decay, the scores divided by ``--tau`` in
the loss, candidates of uncertain gates re-drawn during the first epochs, and the logic layers frozen
to their argmax gates front to back, so the run ends with the Boolean network whose accuracy it
reports. After training the script reloads the saved file with :func:`bnn_hw.load` (eval mode),
measures the test accuracy of the reloaded model on all 10,000 test images and writes it with the
configuration and the gate counts to ``metrics.json`` next to the model file.

Usage::

    python examples/fmnist_logic/train.py                    # the shipped configuration
    python examples/fmnist_logic/train.py --gates 2000,1000 --candidates 4 --epochs 2 --train-images 5000
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch import nn

from bnn_hw.datasets import fashion_mnist
from bnn_hw.nn import GroupSum, LogicLayer, Thermometer, gate_truth_table
from bnn_hw.training import (LogicSchedule, accuracy, add_training_arguments, logic_layers, save_with_metrics, seed_run,
                             train_from_args, training_config)

HERE = os.path.dirname(os.path.abspath(__file__))


def build_model(thresholds, gates, candidates, seed: int = 0) -> nn.Sequential:
    layers: list[nn.Module] = [Thermometer(thresholds)]
    width = 784 * len(thresholds)
    for index, (g, c) in enumerate(zip(gates, candidates)):
        layers.append(LogicLayer(width, g, candidates=c, seed=seed * 100 + index))
        width = g
    layers.append(GroupSum(10))
    return nn.Sequential(*layers)


def _depends(code: int) -> tuple[bool, bool]:
    """Whether function ``code`` depends on its input a, and on b."""
    t00, t01, t10, t11 = gate_truth_table(code)
    return (t00, t01) != (t10, t11), (t00, t10) != (t01, t11)


def gate_summary(model: nn.Sequential) -> dict:
    """What the Boolean network needs, traced back from the GroupSum (a rough hardware size; the
    compiler prunes for itself): per logic layer the gates some output depends on ("live"), and of
    those the ones that are a real two-input function ("two-input": not a constant, a copy or a NOT
    of one input, also counting a gate that reads one bit twice); and the input bits read."""
    layers = logic_layers(model)
    needed = np.ones(layers[-1].gates, dtype=bool)
    live, two_input = [], []
    for layer in reversed(layers):
        a, b, code = layer.netlist()
        uses = np.zeros(layer.in_bits, dtype=bool)
        count = 0
        for g in np.flatnonzero(needed):
            on_a, on_b = _depends(int(code[g]))
            if a[g] == b[g]:
                on_a, on_b = on_a or on_b, False
            if on_a:
                uses[a[g]] = True
            if on_b:
                uses[b[g]] = True
            count += on_a and on_b
        live.insert(0, int(needed.sum()))
        two_input.insert(0, count)
        needed = uses
    return {"live_gates": live, "two_input_gates": two_input, "input_bits_read": int(needed.sum())}


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--thresholds", default="32,96,160", help="thermometer thresholds on 0..255 pixels (default 32,96,160)")
    p.add_argument("--gates", default="4000,4000,2000",
                   help="gates of each logic layer, comma-separated; the last is a multiple of 10 (default 4000,4000,2000)")
    p.add_argument("--candidates", default="4",
                   help="candidate input pairs per gate: one value, or one per layer (default 4)")
    p.add_argument("--tau", type=float, default=None,
                   help="the scores are divided by tau in the loss (default: a learned temperature)")
    p.add_argument("--freeze-start", type=float, default=0.5,
                   help="fraction of the epochs before the layers' freezing deadlines begin (default 0.5)")
    p.add_argument("--freeze-confidence", type=float, default=0.95,
                   help="a layer whose mean largest slot probability reaches this is frozen early (default 0.95)")
    p.add_argument("--redraw-threshold", type=float, default=0.3,
                   help="re-draw the unchosen candidates of gates less certain than this (default 0.3; 0: never)")
    p.add_argument("--redraw-until", type=float, default=0.5,
                   help="fraction of the epochs during which candidates are re-drawn (default 0.5)")
    p.add_argument("--anneal", type=float, default=0.05,
                   help="the unfrozen layers' softmax temperature falls from 1 (at --freeze-start) to this at "
                        "the end, so the mixtures approach the gates they are frozen to (default 0.05; 1: off)")
    p.add_argument("--gumbel", type=float, default=None,
                   help="Gumbel-softmax straight-through sampling of the gates at this temperature (default: off)")
    p.add_argument("--residual", type=float, default=5.0,
                   help="residual initialization: the pass-through function's logit starts this much higher "
                        "(default 5; 0: plain unit-noise logits)")
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    p.add_argument("--validation", type=int, default=0,
                   help="hold out the last N training images and record the trained network's accuracy on them "
                        "as validation_accuracy (how the README's experiments were compared; default 0)")
    add_training_arguments(p, out=os.path.join(HERE, "net.pt"), epochs=20, batch_size=256, lr=0.05,
                           augmentation="none")
    args = p.parse_args(argv)

    thresholds, gates, candidates = _ints(args.thresholds), _ints(args.gates), _ints(args.candidates)
    if len(candidates) == 1:
        candidates = candidates * len(gates)
    if len(candidates) != len(gates):
        p.error(f"--candidates needs one value or one per layer ({len(gates)})")
    if gates[-1] % 10:
        p.error(f"the last layer's {gates[-1]} gates must be a multiple of 10 (GroupSum(10))")
    seed_run(args)

    images, labels = fashion_mnist("train")
    kept = len(images) - args.validation
    x_train, y_train = (torch.from_numpy(a[:kept][:args.train_images]) for a in (images, labels))
    x_val, y_val = (torch.from_numpy(a[kept:]) for a in (images, labels))
    x_test, y_test = (torch.from_numpy(a) for a in fashion_mnist("test"))
    model = build_model(thresholds, gates, candidates, args.seed)
    if args.residual:
        for layer in logic_layers(model):
            layer.residual_init(args.residual)
    print(model, f"\ngates: {sum(gates)}", flush=True)
    schedule = LogicSchedule(freeze_confidence=args.freeze_confidence, freeze_start=args.freeze_start,
                             redraw_threshold=args.redraw_threshold or None, redraw_until=args.redraw_until,
                             anneal=None if args.anneal == 1 else args.anneal, gumbel=args.gumbel)
    history = train_from_args(model, args, x_train, y_train, tau=args.tau, logic=schedule)
    config = {"thresholds": thresholds, "gates": gates, "candidates": candidates, "tau": args.tau,
              "residual": args.residual, "anneal": args.anneal, "gumbel": args.gumbel,
              "freeze_start": args.freeze_start, "freeze_confidence": args.freeze_confidence,
              "redraw_threshold": args.redraw_threshold, "redraw_until": args.redraw_until}
    config |= training_config(args, len(x_train))
    config["optimizer"] = "Adam, cosine decay to 0"
    functions = np.bincount(np.concatenate([layer.netlist()[2] for layer in logic_layers(model)]), minlength=16)
    summary = gate_summary(model)
    print(f"gates by function: {functions.tolist()}; {summary}", flush=True)
    if args.validation:
        summary["validation_accuracy"] = accuracy(model, x_val, y_val)
        print(f"accuracy on the {args.validation} held-out training images: {summary['validation_accuracy']:.4f}")
    return save_with_metrics(model, args.out, x_test, y_test, history, config, gates=sum(gates),
                             output_bits=gates[-1], gates_by_function=functions.tolist(), **summary,
                             discrete_train_acc=history[-1]["discrete_train_acc"])


if __name__ == "__main__":
    main()
