"""Board builds: the fit check fails early, the LED demo works in simulation, and a full ULX3S build."""

import json
from pathlib import Path

import numpy as np
import pytest
from amaranth.sim import Simulator

import bnn_hw
from bnn_hw.boards.demo_top import DemoTop
from bnn_hw.cli import main
from bnn_hw.compiler.lower import build_pipeline, payload_width
from bnn_hw.compiler.plan import compile_model
from bnn_hw.sim.encoding import input_words
from conftest import random_mlp

SHIPPED = Path(__file__).parent.parent / "examples" / "fmnist_mlp" / "net.pt"


def test_too_big_for_the_device_fails_before_synthesis(tmp_path, capsys):
    path = tmp_path / "big.pt"
    bnn_hw.save(random_mlp(784, [1024, 1024], 10, seed=0), path)
    out = tmp_path / "out"
    assert main(["build", "--board", "ulx3s-12f", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "EBR" in err and "LFE5U-12F" in err and "layer dense" in err
    assert not (out / "bnn_hw.il").exists()  # nothing was handed to the toolchain


def test_unknown_board(tmp_path, capsys):
    path = tmp_path / "m.pt"
    bnn_hw.save(random_mlp(4, [3], 2), path)
    assert main(["build", "--board", "nexys", str(path)]) == 2
    assert "ulx3s" in capsys.readouterr().err


def test_led_demo_shows_the_predicted_class(rng):
    plan = compile_model(random_mlp(10, [12], 6, seed=3))
    frames = rng.integers(0, 256, (3, 10), dtype=np.uint8)
    classes, _ = plan.predict(frames)
    labels = [int(classes[0]), (int(classes[1]) + 1) % 6, int(classes[2])]  # image 1 is "wrong"
    pipeline = build_pipeline(plan)
    hold = 400
    top = DemoTop(pipeline, [input_words(plan, f) for f in frames], labels,
                  input_width=payload_width(pipeline, "i"), hold_cycles=hold)
    seen = []

    async def bench(ctx):
        for _ in range(3):
            await ctx.tick().repeat(hold)
            seen.append(ctx.get(top.led))

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for image, led in enumerate(seen):
        assert led & 0xF == classes[image]
        assert (led >> 4) & 1 == (labels[image] == classes[image])
        assert led >> 5 == image


@pytest.mark.slow
def test_full_ulx3s_build_of_the_shipped_model(tmp_path):
    out = tmp_path / "build"
    assert main(["build", "--board", "ulx3s", str(SHIPPED), "-o", str(out)]) == 0
    assert (out / "bnn_hw.bit").stat().st_size > 100_000
    assert (out / "bnn_pipeline.v").exists()
    report = json.loads((out / "report.json").read_text())
    totals = report["totals"]
    assert totals["fmax_mhz"]["provenance"] == "measured"
    # The default core clock is 100 MHz from the PLL, and the shipped model meets it.
    assert totals["clock_mhz"]["value"] == 100.0
    assert totals["fmax_mhz"]["value"]["constraint"] == 100
    assert totals["timing_met"]["value"] is True, totals["fmax_mhz"]
    used = totals["post_pnr_utilization"]
    assert 0 < used["lut4"]["value"]["used"] < used["lut4"]["value"]["available"]
    assert (out / "report.txt").read_text().startswith("bnn-hw report: ulx3s-85f")


def test_pll_clocked_board_top_elaborates_with_its_constraint(rng):
    from bnn_hw.boards import get_board
    from bnn_hw.boards.ecp5_pll import pll_config

    plan = compile_model(random_mlp(10, [12], 6, seed=3))
    pipeline = build_pipeline(plan)
    frames = rng.integers(0, 256, (2, 10), dtype=np.uint8)
    top = DemoTop(pipeline, [input_words(plan, f) for f in frames], [0, 1],
                  input_width=payload_width(pipeline, "i"), pll=pll_config(25, 100))
    files = get_board("ulx3s").platform().prepare(top, name="t").files
    assert "EHXPLLL" in files["t.il"] and "FREQUENCY_PIN_CLKOP" in files["t.il"]
    # nextpnr derives the PLL output's constraint from the oscillator's
    assert 'FREQUENCY PORT "clk25_0__io" 25000000' in files["t.lpf"]
