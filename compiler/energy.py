"""Memory traffic, operations and a 45 nm ASIC-equivalent energy estimate per inference.

Each hardware op says what one inference moves and computes in its stage (``traffic(in_type,
fold)``, a :class:`Traffic`), counted the way the generated hardware does it: a convolution reads
every window pixel from its line buffer, a folded matrix-vector unit re-reads its input word for
each group of ``pe`` outputs. The shortcut of a logic-shortcut block writes and reads its FIFO.

The energy is an estimate from Horowitz's 45 nm figures (:data:`HOROWITZ_45NM`), labelled "45 nm
ASIC-equivalent estimate": it is not the power an FPGA draws. Beside it, :func:`real_valued_baseline`
estimates the same network built the Bi-Real way, as BoolNet compares it: feature maps and shortcuts
of 32-bit real values, BatchNorm in float32 (a multiply and an add per output), shortcuts added in
float32, and every 1-bit or fixed-point feature-map access a 32-bit one. The binary operations and the weights are
the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..intmath import ceil_div

__all__ = ["Traffic", "EnergyTable", "HOROWITZ_45NM", "CITATION", "PROVENANCE", "matrix_traffic",
           "plan_traffic", "energy_pj", "real_valued_baseline"]

#: Where the energy constants come from, and what the estimate is (never FPGA power).
CITATION = ("M. Horowitz, \"Computing's energy problem (and what we can do about it)\", ISSCC 2014 "
            "(45 nm, 0.9 V); 1-bit op = 1/32 of a 32-bit add (assumed)")
PROVENANCE = "45nm ASIC-equivalent estimate"


@dataclass(frozen=True)
class Traffic:
    """What one stage moves and computes per inference (bits and operation counts)."""

    weight_bits: int = 0        #: weight and threshold bits read from the stage's ROMs
    fmap_bits: int = 0          #: 1-bit feature-map bits written to and read from on-chip buffers
    pixel_bits: int = 0         #: 8-bit input pixels' bits written to and read from on-chip buffers
    shortcut_bits: int = 0      #: shortcut bits written to and read from the shortcut FIFO
    fixed_bits: int = 0         #: bits of fixed-point values (Bi-Real shortcuts) written to and read from buffers
    fixed_values: int = 0       #: how many values those bits are (32 bits each in the baseline)
    binary_ops: int = 0         #: 1-bit operations: XNOR and popcount bits (2 per weight use), OR, joins
    int_ops: int = 0            #: integer additions and comparisons (accumulators, thresholds, argmax)
    real_ops: int = 0           #: float32 additions (only in a real-valued baseline)
    real_mults: int = 0         #: float32 multiplications (only in a real-valued baseline)
    joins: int = 0              #: bits joined by a logic shortcut (a float32 add in the baseline)
    fixed_adds: int = 0         #: fixed-point shortcut additions, among ``int_ops`` (float32 adds in the baseline)
    fixed_macs: int = 0         #: fixed-point multiply-adds (a real 1x1 convolution; float32 in the baseline)
    fixed_mac_adds: int = 0     #: the integer additions they take, among ``int_ops``
    fixed_mults: int = 0        #: fixed-point multiplications alone (an ELM product; float32 in the baseline)
    fixed_mult_adds: int = 0    #: the integer additions they take, among ``int_ops``
    activations: int = 0        #: output bits computed by thresholds (BatchNorm and sign folded)
    channel_outputs: int = 0    #: outputs those thresholds stand for (one BatchNorm each, K signs)

    def __add__(self, other: "Traffic") -> "Traffic":
        return Traffic(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def matrix_traffic(vectors: int, out_features: int, in_features: int, slices: int, fold, *,
                   element_bits: int = 1, weight_bits: int = 1) -> Traffic:
    """A :class:`~bnn_hw.hdl.MatrixVectorUnit`'s ``vectors`` products per inference: each input
    vector written once to its double buffer and read once per group of ``pe`` outputs, the weights
    (``weight_bits`` each) read once per vector, one accumulation per ``simd`` word and ``slices``
    comparisons per output."""
    nf, sf = ceil_div(out_features, fold.pe), ceil_div(in_features, fold.simd)
    acc = (in_features * (255 if element_bits == 8 else 1) << (weight_bits - 1)).bit_length() + 1
    thresholds = out_features * slices * acc
    binary = 2 * out_features * in_features if element_bits == 1 else 0
    # pixel sums under +-1 weights, or one masked sum per bit plane of multi-bit weights
    adds = out_features * in_features * weight_bits if element_bits == 8 else 0
    return Traffic(
        weight_bits=vectors * (out_features * in_features * weight_bits + thresholds),
        **{"pixel_bits" if element_bits == 8 else "fmap_bits": vectors * in_features * element_bits * (1 + nf)},
        binary_ops=vectors * binary,
        int_ops=vectors * (adds + out_features * (sf + slices)),
        activations=vectors * out_features * slices,
        channel_outputs=vectors * out_features if slices else 0,
    )


def unrolled_traffic(out_features: int, in_features: int, counted_bits: int, slices: int, shared: bool) -> Traffic:
    """An unrolled dense unit's product per inference: no weight memory (the weights are logic), the
    input vector registered once, ``counted_bits`` literals counted (plus all inputs once, ``shared``
    by a sparse layer's channels), a combination per channel (``shared``) and ``slices`` comparisons."""
    return Traffic(
        fmap_bits=in_features,
        binary_ops=2 * counted_bits + (in_features if shared else 0),
        int_ops=out_features * (slices + shared),
        activations=out_features * slices,
        channel_outputs=out_features if slices else 0,
    )


#: Energy per operation and per 64-bit on-chip memory access at 45 nm, 0.9 V, in pJ: M. Horowitz,
#: "Computing's energy problem (and what we can do about it)", ISSCC 2014. ``binary_op`` is not in
#: the paper: it is taken as 1/32 of a 32-bit integer add (one full-adder bit), an assumption.
HOROWITZ_45NM = {
    "int_add_32": 0.1,
    "int_add_8": 0.03,
    "fp_add_32": 0.9,
    "fp_mult_32": 3.7,
    "sram_64bit_8kB": 10.0,
    "binary_op": 0.1 / 32,
}


def energy_pj(t: Traffic, constants: dict = HOROWITZ_45NM) -> dict[str, float]:
    """The estimate's parts, in pJ: ``memory`` (every bit moved, in 64-bit accesses of an 8 kB
    SRAM), ``binary``, ``integer`` (32-bit adds, an upper bound for bnn-hw's narrower ones), ``real``
    (float32 adds and multiplies) and their ``total``."""
    parts = {
        "memory": (t.weight_bits + t.fmap_bits + t.pixel_bits + t.shortcut_bits + t.fixed_bits) / 64
                  * constants["sram_64bit_8kB"],
        "binary": t.binary_ops * constants["binary_op"],
        "integer": t.int_ops * constants["int_add_32"],
        "real": t.real_ops * constants["fp_add_32"] + t.real_mults * constants["fp_mult_32"],
    }
    parts["total"] = sum(parts.values())
    return parts


def real_valued_baseline(t: Traffic) -> Traffic:
    """The same stage with Bi-Real's 32-bit feature maps and shortcuts: feature-map and shortcut
    accesses 32 bits wide (fixed-point values too), each output a float32 BatchNorm (a multiply,
    an add) and its signs (a comparison each, counted as an add) instead of the integer threshold
    comparisons, each logic join or fixed-point shortcut addition a float32 add, and each fixed-point
    multiply-add a float32 multiply and add, each fixed-point multiplication a float32 multiply."""
    joins = t.joins
    return Traffic(
        weight_bits=t.weight_bits,
        fmap_bits=32 * t.fmap_bits,
        pixel_bits=t.pixel_bits,
        shortcut_bits=32 * t.shortcut_bits,
        fixed_bits=32 * t.fixed_values,
        fixed_values=t.fixed_values,
        binary_ops=t.binary_ops - joins,
        int_ops=t.int_ops - t.activations - t.fixed_adds - t.fixed_mac_adds - t.fixed_mult_adds,
        real_ops=t.channel_outputs + t.activations + joins + t.fixed_adds + t.fixed_macs,
        real_mults=t.channel_outputs + t.fixed_macs + t.fixed_mults,
    )


@dataclass(frozen=True)
class EnergyTable:
    """Per-stage traffic of a plan, with the on-chip bits each stage buffers."""

    rows: tuple[tuple[str, Traffic, int, int], ...]   #: (stage, traffic, fmap bits buffered, shortcut bits buffered)

    @property
    def total(self) -> Traffic:
        total = Traffic()
        for _, t, _, _ in self.rows:
            total = total + t
        return total


def plan_traffic(plan) -> EnergyTable:
    """Every stage's :class:`Traffic` and buffered bits (feature maps, shortcuts); a join's row has
    its block's shortcut FIFO, every vector written once and read once."""
    rows = []
    for stage in plan.stages:
        traffic = stage.op.traffic(stage.in_type, stage.fold)
        shortcut_buffer = 0
        if stage.bypass is not None:
            shortcut_buffer = stage.bypass.width * stage.bypass.depth
            vectors = stage.op.vectors_per_frame(stage.in_type)
            bits = 2 * stage.bypass.width * stage.bypass.words_per_vector * vectors
            traffic = traffic + stage.op.shortcut_traffic(bits, vectors)
        rows.append((stage.name, traffic, stage.cost.buffer_bits - shortcut_buffer, shortcut_buffer))
    return EnergyTable(tuple(rows))
