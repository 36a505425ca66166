"""Every gearbox of the shipped examples synthesised alone, against its cost estimate.

    python benchmarks/gearboxes.py [--model net.pt ...]

Walks each example's lowered pipeline (shortcut blocks and convolutions included) for
:class:`~bnn_hw.hdl.Repack` instances, synthesises each distinct one with yosys ``synth_ecp5`` (as
``benchmarks/cost_model.py`` does) and prints its mode, ``gearbox_cost`` and the measured LUT4 / FF.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from amaranth.hdl import UnusedElaboratable

import bnn_hw
from bnn_hw.boards.toolchain import toolchain_env
from bnn_hw.compiler.cost import gearbox_cost
from bnn_hw.hdl.pipeline import build_pipeline
from bnn_hw.compiler import compile_model
from bnn_hw.hdl import Chain, ForkJoin, Repack
from bnn_hw.compiler.microarch import repack_mode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_model import EXAMPLES, ROOT, error, synthesise  # noqa: E402

warnings.filterwarnings("ignore", category=UnusedElaboratable)


def repacks(component, where: str):
    """``(args, where)`` of every Repack inside ``component``."""
    if isinstance(component, Repack):
        yield (component.vector_bits, component.in_width, component.out_width, component.out_vector_bits), where
    elif isinstance(component, Chain):
        for name, stage in component.stages.items():
            yield from repacks(stage, f"{where}.{name}" if where else name)
    elif isinstance(component, ForkJoin):
        yield from repacks(component.body, where)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", type=Path, help="model file (repeatable; default: the four examples)")
    args = p.parse_args(argv)
    yosys = toolchain_env()["YOSYS"]
    models = args.model or EXAMPLES + [ROOT / "examples" / n / "net.pt" for n in ("fmnist_boolnet", "fmnist_bireal")]
    found: dict[tuple, list[str]] = {}
    for path in models:
        for key, where in repacks(build_pipeline(compile_model(bnn_hw.load(path))), ""):
            found.setdefault(key, []).append(f"{path.parent.name}:{where}")
    print(f"{'gearbox (vector, in, out, out vector)':<38}{'mode':<12}{'LUT4 est':>9}{'meas':>6}{'err':>7}"
          f"{'FF est':>8}{'meas':>6}  used in")
    for key, places in found.items():
        est, got = gearbox_cost(*key), synthesise(Repack(*key), yosys)
        print(f"{str(key):<38}{repack_mode(*key):<12}{est.lut4:>9}{got['lut4']:>6}{error(est.lut4, got['lut4']):>+7.0%}"
              f"{est.ff:>8}{got['ff']:>6}  {', '.join(places)}")


if __name__ == "__main__":
    main()
