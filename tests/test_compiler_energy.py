"""Memory traffic, operation counts and the 45 nm energy estimate, against counts worked out by hand."""

import pytest

from bnn_hw.compiler.energy import (HOROWITZ_45NM, Traffic, energy_pj, matrix_traffic, plan_traffic,
                                    real_valued_baseline)
from bnn_hw.compiler.folding import Fold
from bnn_hw.compiler import compile_model
from conftest import random_boolnet, random_mlp


def test_matrix_traffic_of_a_folded_dense_layer():
    # 10 outputs x 100 inputs, 1 threshold, pe 5 (NF 2), simd 25 (SF 4)
    t = matrix_traffic(1, 10, 100, 1, Fold(5, 25))
    acc = 101 .bit_length() + 1
    assert t.weight_bits == 10 * 100 + 10 * acc
    assert t.fmap_bits == 100 * (1 + 2)          # written once, read once per group of pe outputs
    assert t.binary_ops == 2 * 10 * 100
    assert t.int_ops == 10 * (4 + 1)             # an accumulation per simd word, a comparison
    assert (t.activations, t.channel_outputs) == (10, 10)


def test_energy_adds_up_the_cited_constants():
    t = Traffic(weight_bits=64, fmap_bits=64, binary_ops=32, int_ops=10)
    e = energy_pj(t)
    assert e["memory"] == pytest.approx(2 * HOROWITZ_45NM["sram_64bit_8kB"])
    assert e["binary"] == pytest.approx(32 * HOROWITZ_45NM["binary_op"])
    assert e["integer"] == pytest.approx(10 * HOROWITZ_45NM["int_add_32"])
    assert e["total"] == pytest.approx(e["memory"] + e["binary"] + e["integer"])


def test_the_32_bit_baseline_widens_maps_and_shortcuts_and_computes_batchnorm_in_float():
    t = Traffic(weight_bits=100, fmap_bits=10, pixel_bits=80, shortcut_bits=4, binary_ops=50, int_ops=30, joins=2,
                activations=8, channel_outputs=2)
    b = real_valued_baseline(t)
    assert (b.weight_bits, b.fmap_bits, b.pixel_bits, b.shortcut_bits) == (100, 320, 80, 128)
    assert b.binary_ops == 50 - 2               # the two joined bits become float adds
    assert b.int_ops == 30 - 8                  # no threshold comparisons
    assert b.real_mults == 2 and b.real_ops == 2 + 8 + 2


def test_shortcuts_are_buffered_and_counted_per_layer():
    plan = compile_model(random_boolnet(image=(1, 6, 5), channels=8))
    rows = {name: (t, fmap, shortcut) for name, t, fmap, shortcut in plan_traffic(plan).rows}
    traffic, _, buffered = rows["xnor5"]
    join = next(s for s in plan.stages if s.name == "xnor5")
    assert buffered == 8 * join.bypass.depth    # 8-bit pixels, the FIFO's depth
    assert traffic.shortcut_bits == 2 * 6 * 5 * 8 and traffic.binary_ops == 6 * 5 * 8
    assert rows["conv5_0"][2] == 0


def test_binary_maps_cost_less_than_32_bit_ones():
    plan = compile_model(random_mlp(784, [256, 256], 10))
    total = plan_traffic(plan).total
    assert energy_pj(real_valued_baseline(total))["total"] > 2 * energy_pj(total)["total"]
