"""Train FINN's LFC network with Brevitas on Fashion-MNIST, export it as QONNX, and import it.

The network is BNN-PYNQ's ``FC`` exactly as Brevitas ships it (``brevitas_examples.bnn_pynq``), W1A1
with a 1-bit input: ``2x - 1`` on the pixels ``x = k / 255``, binarised, then three binary fully
connected layers of ``--hidden`` neurons (LFC: 1024) with BatchNorm and binary activations, a binary
classifier and a TensorNorm. It is trained the way Brevitas's BNN-PYNQ trainer trains it (Adam,
latent weights clipped to [-1, 1] after each step) but for fewer epochs, on a cross-entropy loss.

Then the script exports ``net.onnx`` with ``brevitas.export.export_qonnx``, imports it with
:func:`bnn_hw.onnx_import.import_onnx` (which checks the import against ``qonnx``'s ``execute_onnx``),
and measures the test accuracy of the imported model with bnn-hw's NumPy reference on all 10,000 test
images, and that of the Brevitas module itself. Both go to ``metrics.json`` beside the model, with the
agreement of bnn-hw and ``execute_onnx`` on the first ``--golden`` test images.

Usage::

    python examples/brevitas_lfc/train.py                         # the shipped configuration
    python examples/brevitas_lfc/train.py --hidden 256 --epochs 5 --out /tmp/sfc.onnx

``bnn-hw build --board ulx3s examples/brevitas_lfc/net.onnx`` then builds it; ``bnn-hw import`` writes
the ``net.pt``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from torch.nn import functional as F

from bnn_hw.datasets import fashion_mnist

HERE = os.path.dirname(os.path.abspath(__file__))


def build_model(hidden: int, layers: int):
    """BNN-PYNQ's FC (LFC for 3 x 1024), W1A1 with a 1-bit input, as Brevitas defines it."""
    from brevitas_examples.bnn_pynq.models.FC import FC
    return FC(num_classes=10, weight_bit_width=1, act_bit_width=1, in_bit_width=1, in_channels=1,
              out_features=[hidden] * layers)


def unit_images(images: np.ndarray) -> torch.Tensor:
    """uint8 images (n, 784) as ToTensor gives them: (n, 1, 28, 28), ``k / 255`` in float32."""
    return torch.from_numpy(images).reshape(-1, 1, 28, 28).float() / 255


def train(model, images: torch.Tensor, labels: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
          seed: int, log=print) -> list[dict]:
    """Adam with cosine decay to 0, cross-entropy, latent weights clipped to [-1, 1] after each step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
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
            model.clip_weights(-1.0, 1.0)
            total += loss.item() * len(batch)
            correct += int((out.argmax(1) == labels[batch]).sum())
            seen += len(batch)
        row = {"epoch": epoch, "loss": total / seen, "train_acc": correct / seen,
               "seconds": round(time.monotonic() - start, 1)}
        history.append(row)
        log(f"epoch {epoch}/{epochs}: loss {row['loss']:.4f}, train accuracy {row['train_acc']:.4f}, "
            f"{row['seconds']} s")
    return history


def measure(onnx_path: str, model, test_images: np.ndarray, test_labels: np.ndarray, golden: int) -> dict:
    """Import ``onnx_path`` and measure: bnn-hw's reference on every test image, the Brevitas module's
    own accuracy, and bnn-hw against ``execute_onnx`` on the first ``golden`` images."""
    from bnn_hw.compiler import compile_model
    from bnn_hw.onnx_import import QonnxGraph, golden_outputs, import_onnx

    imported = import_onnx(onnx_path)
    classes, scores = compile_model(imported.model).predict(test_images)
    with torch.no_grad():
        brevitas = model.eval()(unit_images(test_images)).argmax(1).numpy()
    onnx_out = golden_outputs(QonnxGraph.load(onnx_path), imported, test_images[:golden])
    exact = bool(np.array_equal(imported.onnx_outputs(scores[:golden]), onnx_out))
    if not exact:
        raise SystemExit("error: bnn-hw's reference differs from execute_onnx on the test images")
    return {"test_accuracy": float(np.mean(classes == test_labels)),
            "brevitas_test_accuracy": float(np.mean(brevitas == test_labels)),
            "brevitas_agreement": float(np.mean(brevitas == classes)),
            "execute_onnx_exact_images": golden, "import_notes": imported.notes}


def _single_file(path: str) -> None:
    """Rewrite an exported ONNX file with its weights inside (the exporter may put them in a
    ``.data`` file beside it)."""
    import onnx
    onnx.save_model(onnx.load(path), path, save_as_external_data=False)
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=1024, help="neurons per hidden layer (default 1024: LFC)")
    p.add_argument("--layers", type=int, default=3, help="hidden layers (default 3)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate, cosine-decayed to 0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--golden", type=int, default=200,
                   help="test images on which bnn-hw is checked against execute_onnx (default 200)")
    p.add_argument("--out", default=os.path.join(HERE, "net.onnx"),
                   help="QONNX file to write (default: net.onnx next to the script); metrics.json goes beside it")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from brevitas.export import export_qonnx

    x_train, y_train = fashion_mnist("train")
    x_test, y_test = fashion_mnist("test")
    model = build_model(args.hidden, args.layers)
    print(f"model: BNN-PYNQ FC, W1A1, {args.layers} x {args.hidden} hidden, 1-bit input", flush=True)
    history = train(model, unit_images(x_train), torch.from_numpy(y_train).long(), epochs=args.epochs,
                    batch_size=args.batch_size, lr=args.lr, seed=args.seed, log=lambda s: print(s, flush=True))
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    model.eval()
    export_qonnx(model, unit_images(x_test[:1]), out)
    _single_file(out)
    metrics = measure(out, model, x_test, y_test, args.golden)
    print(f"exported {out}; bnn-hw test accuracy {metrics['test_accuracy']:.4f} (Brevitas module "
          f"{metrics['brevitas_test_accuracy']:.4f}); equal to execute_onnx on {args.golden} images", flush=True)
    metrics |= {"test_images": len(x_test),
                "measured_on": "the exported net.onnx imported with bnn_hw.onnx_import, bnn-hw's NumPy reference",
                "config": {"hidden": args.hidden, "layers": args.layers, "epochs": args.epochs, "seed": args.seed,
                           "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
                           "optimizer": "Adam, cosine decay to 0, latent weights clipped to [-1, 1]",
                           "loss": "cross-entropy on the TensorNorm output", "train_images": len(x_train)},
                "train_seconds": round(sum(row["seconds"] for row in history), 1),
                "final_train_loss": history[-1]["loss"], "final_train_acc": history[-1]["train_acc"],
                "torch": torch.__version__}
    with open(os.path.join(os.path.dirname(out), "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    return metrics


if __name__ == "__main__":
    main()
