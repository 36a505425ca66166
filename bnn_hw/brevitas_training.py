"""Training, exporting and measuring Brevitas models: the part the Brevitas examples share.

A Brevitas model is trained the way Brevitas's BNN-PYNQ trainer trains its networks (Adam, latent
weights clipped to [-1, 1] after each step) on Fashion-MNIST, exported with
``brevitas.export.export_qonnx``, imported with :func:`bnn_hw.onnx_import.import_onnx` and measured:
bnn-hw's NumPy reference on every test image, the Brevitas module itself, and bnn-hw against
``qonnx``'s ``execute_onnx`` on the first test images. Needs the ``onnx`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from torch.nn import functional as F

from .datasets import fashion_mnist
from .intmath import ceil_div

__all__ = ["add_arguments", "unit_images", "train", "export", "measure", "run"]


def add_arguments(parser: argparse.ArgumentParser, *, out: str, epochs: int, batch_size: int, lr: float) -> None:
    """The options every Brevitas example has, with that example's defaults."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr, help="Adam learning rate, cosine-decayed to 0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--golden", type=int, default=200,
                        help="test images on which bnn-hw is checked against execute_onnx (default 200)")
    parser.add_argument("--out", default=out,
                        help="QONNX file to write (default: net.onnx next to the script); metrics.json goes beside it")


def unit_images(images: np.ndarray) -> torch.Tensor:
    """uint8 images (n, 784) as ToTensor gives them: (n, 1, 28, 28), ``k / 255`` in float32."""
    return torch.from_numpy(images).reshape(-1, 1, 28, 28).float() / 255


def _clip_weights(model: torch.nn.Module) -> None:
    """Latent weights of the quantized layers clipped to [-1, 1] (BNN-PYNQ's ``clip_weights``)."""
    from brevitas.nn import QuantConv2d, QuantLinear
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (QuantLinear, QuantConv2d)):
                layer.weight.clamp_(-1.0, 1.0)


def train(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epochs: int, batch_size: int,
          lr: float, seed: int, log=print) -> list[dict]:
    """Adam with cosine decay to 0, cross-entropy, latent weights clipped to [-1, 1] after each step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ceil_div(len(images), batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        start, total, correct, seen = time.monotonic(), 0.0, 0, 0
        for batch in torch.randperm(len(images), generator=generator).split(batch_size):
            out = model(images[batch])
            loss = F.cross_entropy(out, labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            _clip_weights(model)
            total += loss.item() * len(batch)
            correct += int((out.argmax(1) == labels[batch]).sum())
            seen += len(batch)
        row = {"epoch": epoch, "loss": total / seen, "train_acc": correct / seen,
               "seconds": round(time.monotonic() - start, 1)}
        history.append(row)
        log(f"epoch {epoch}/{epochs}: loss {row['loss']:.4f}, train accuracy {row['train_acc']:.4f}, "
            f"{row['seconds']} s")
    return history


def export(model: torch.nn.Module, example: torch.Tensor, path: str) -> None:
    """``export_qonnx`` to one file: the exporter may put the weights in a ``.data`` file beside it,
    which is folded back in."""
    import onnx
    from brevitas.export import export_qonnx

    export_qonnx(model.eval(), example, path)
    onnx.save_model(onnx.load(path), path, save_as_external_data=False)
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")


def measure(onnx_path: str, model: torch.nn.Module, test_images: np.ndarray, test_labels: np.ndarray,
            golden: int) -> dict:
    """Import ``onnx_path`` and measure bnn-hw's reference on every test image, the Brevitas module's
    own accuracy, and bnn-hw against ``execute_onnx`` on the first ``golden`` images (an error if they
    differ)."""
    from .compiler import compile_model
    from .onnx_import import golden_outputs, import_onnx

    imported = import_onnx(onnx_path)
    classes, scores = compile_model(imported.model).predict(test_images)
    with torch.no_grad():
        brevitas = model.eval()(unit_images(test_images)).argmax(1).numpy()
    onnx_out = golden_outputs(imported, test_images[:golden])
    if not np.array_equal(imported.onnx_outputs(scores[:golden]), onnx_out):
        raise SystemExit("error: bnn-hw's reference differs from execute_onnx on the test images")
    return {"test_accuracy": float(np.mean(classes == test_labels)),
            "brevitas_test_accuracy": float(np.mean(brevitas == test_labels)),
            "brevitas_agreement": float(np.mean(brevitas == classes)),
            "execute_onnx_exact_images": golden, "import_notes": imported.notes}


def run(model: torch.nn.Module, args, config: dict) -> dict:
    """Train ``model`` with the options ``args`` (:func:`add_arguments`), export it to ``args.out``,
    measure it and write ``metrics.json`` beside it (with ``config``, the example's own options)."""
    torch.set_num_threads(args.threads)
    x_train, y_train = fashion_mnist("train")
    x_test, y_test = fashion_mnist("test")
    history = train(model, unit_images(x_train), torch.from_numpy(y_train).long(), epochs=args.epochs,
                    batch_size=args.batch_size, lr=args.lr, seed=args.seed, log=lambda s: print(s, flush=True))
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    export(model, unit_images(x_test[:1]), out)
    metrics = measure(out, model, x_test, y_test, args.golden)
    print(f"exported {out}; bnn-hw test accuracy {metrics['test_accuracy']:.4f} (Brevitas module "
          f"{metrics['brevitas_test_accuracy']:.4f}); equal to execute_onnx on {args.golden} images", flush=True)
    metrics |= {"test_images": len(x_test),
                "measured_on": "the exported net.onnx imported with bnn_hw.onnx_import, bnn-hw's NumPy reference",
                "config": config | {"epochs": args.epochs, "seed": args.seed, "batch_size": args.batch_size,
                                    "lr": args.lr, "threads": args.threads,
                                    "optimizer": "Adam, cosine decay to 0, latent weights clipped to [-1, 1]",
                                    "loss": "cross-entropy on the last layer's output", "train_images": len(x_train)},
                "train_seconds": round(sum(row["seconds"] for row in history), 1),
                "final_train_loss": history[-1]["loss"], "final_train_acc": history[-1]["train_acc"],
                "torch": torch.__version__}
    with open(os.path.join(os.path.dirname(out), "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    return metrics
