"""The sliding-window generator over a grid of shapes, synthesised alone, against ``window_cost``.

    python benchmarks/window_sweep.py [--jobs 2]

84 generators: 7x7, 14x14 and 28x28 images, 1x1 and 3x3 kernels (padding 0 and 1), 16 to 256
channels, 1, 2 or 4 groups (at least 8 channels per group). Each is synthesised by yosys
``synth_ecp5`` (as ``benchmarks/cost_model.py`` does); the script prints each one's estimated and
measured LUT4 / FF / EBR and the mean and largest LUT4 and FF errors, the fit ``window_cost`` states.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bnn_hw.boards.toolchain import toolchain_env
from bnn_hw.boards.family import DP16KD
from bnn_hw.compiler.cost import window_cost
from bnn_hw.hdl import SlidingWindow

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_model import error, synthesise  # noqa: E402

SHAPES = [(size, kernel, channels, groups)
          for size, kernel, channels, groups in itertools.product((7, 14, 28), (1, 3), (16, 32, 64, 128, 256), (1, 2, 4))
          if channels // groups >= 8]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="yosys runs at a time")
    args = p.parse_args(argv)
    yosys = toolchain_env()["YOSYS"]
    windows = [SlidingWindow(s, s, c, k, 1, k // 2, groups=g) for s, k, c, g in SHAPES]
    with ThreadPoolExecutor(args.jobs) as pool:
        measured = list(pool.map(lambda w: synthesise(w, yosys), windows))
    print(f"{'image':>6}{'kernel':>7}{'channels':>9}{'groups':>7}{'LUT4 est':>9}{'meas':>6}{'FF est':>8}{'meas':>6}"
          f"{'EBR est':>8}{'meas':>6}")
    errors = {"lut4": [], "ff": []}
    for (s, k, c, g), got in zip(SHAPES, measured):
        est = window_cost(s, s, c, k, 1, g, DP16KD)
        for r in errors:
            errors[r].append(abs(error(getattr(est, r), got[r])))
        print(f"{s:>6}{k:>7}{c:>9}{g:>7}{est.lut4:>9}{got['lut4']:>6}{est.ff:>8}{got['ff']:>6}{est.ebr:>8}{got['ebr']:>6}")
    for r, e in errors.items():
        print(f"{r.upper()}: mean error {sum(e) / len(e):.1%}, largest {max(e):.1%} over {len(e)} generators")


if __name__ == "__main__":
    main()
