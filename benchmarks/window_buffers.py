"""Print each convolution's sliding-window line buffer against the minimum, for a model.

    python benchmarks/window_buffers.py [examples/fmnist_cnv/net.pt]

The minimum for a window generator that never re-reads its input is ``(kernel - 1)`` image rows
(``(kernel - 1) x width x channels`` bits), plus a window's worth of registers. bnn-hw's
:class:`~bnn_hw.hdl.SlidingWindow` keeps ``kernel + stride`` rows (at most the image) in block RAM, so
the producer can write the next output row's input rows while the current row's windows are read.
The buffer sizes are those of the generated hardware (the same component's ``buffer_bits``, built
with the layer's parameters); nothing here is estimated.
"""

from __future__ import annotations

import argparse
import os

import bnn_hw
from bnn_hw.compiler.ops import BinaryConv2d
from bnn_hw.compiler import compile_model
from bnn_hw.hdl import SlidingWindow

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "examples", "fmnist_cnv", "net.pt")


def rows(plan):
    """One row per convolution: (name, image, kernel, stride, buffer bits, minimum bits)."""
    for stage in plan.stages:
        if isinstance(stage.op, BinaryConv2d):
            h, w, c = stage.in_type.shape
            op, bits = stage.op, c * stage.in_type.width  # bits per pixel (8 per channel of pixels)
            window = SlidingWindow(h, w, bits, op.kernel, op.stride, op.padding, op.pad_bit)
            yield (stage.name, f"{h}x{w}x{bits}b", op.kernel, op.stride, window.buffer_bits,
                   (op.kernel - 1) * w * bits)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", default=DEFAULT)
    args = p.parse_args(argv)
    plan = compile_model(bnn_hw.load(args.model))
    print(f"{'layer':<10} {'image':>10} {'kernel':>6} {'stride':>6} {'buffer bits':>12} {'minimum':>9} {'ratio':>6}")
    total = minimum = 0
    for name, image, k, s, bits, least in rows(plan):
        ratio = f"{bits / least:.2f}" if least else "-"
        print(f"{name:<10} {image:>10} {k:>6} {s:>6} {bits:>12} {least:>9} {ratio:>6}")
        total, minimum = total + bits, minimum + least
    print(f"{'total':<10} {'':>10} {'':>6} {'':>6} {total:>12} {minimum:>9} "
          f"{total / minimum if minimum else 0:>6.2f}")


if __name__ == "__main__":
    main()
