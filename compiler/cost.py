"""Per-op resource and timing estimates (provenance: ``estimated``).

These are first-order models of the generated hardware on a Lattice FPGA; the build report shows
them beside the post-synthesis and post-place-and-route measurements.

Block RAM is counted in blocks of the target's primitive: every op's ``cost(in_type, fold,
block_ram)`` is given the :class:`BlockRam` of the device the plan is costed for (ECP5's 18-kbit
DP16KD unless a plan says otherwise) and asks it for the blocks each memory needs, so a plan for an
iCE40 counts its 4-kbit SB_RAM40_4K blocks, not ECP5 blocks converted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from math import ceil

__all__ = ["BlockRam", "DP16KD", "SB_RAM40_4K", "Cost", "gearbox_cost"]


@lru_cache(maxsize=4096)
def _fewest_blocks(configs: tuple[tuple[int, int], ...], width: int, depth: int) -> int:
    """Fewest blocks for ``width`` bits x ``depth``, each slice of the width in one (depth, width)
    configuration (an unbounded knapsack over the width)."""
    best = [0] + [None] * width
    for w in range(1, width + 1):
        best[w] = min(ceil(depth / d) + best[max(0, w - cw)] for d, cw in configs)
    return best[width]


@dataclass(frozen=True)
class BlockRam:
    """A block-RAM primitive: its name, size and the aspect ratios it can be used in."""

    name: str
    kbits: int                                #: bits per block / 1024, parity bits included
    configs: tuple[tuple[int, int], ...]      #: (depth, width) usable as a ROM or simple dual-port RAM
    #: yosys keeps a memory in 16x4 LUT-RAM cells (4 LUT4 sites each) when it needs at most this many
    #: cells per block it would take (0: the family has no LUT RAM)
    lutram_cells_per_block: int = 0
    #: yosys builds a ROM of at most this many words from LUTs, however wide (0: not measured, every
    #: ROM placed like a memory)
    rom_logic_depth: int = 0

    def __post_init__(self):
        if not self.configs or any(d < 1 or w < 1 for d, w in self.configs):
            raise ValueError(f"{self.name}: configs must be non-empty (depth, width) pairs, not {self.configs!r}")

    def blocks(self, width: int, depth: int) -> int:
        """Fewest blocks that hold a ``width`` x ``depth`` memory, its width split across aspect
        ratios where that saves blocks (yosys does: 24 bits x 12,288 as 9 + 9 + 4 + 2 bits wide)."""
        return _fewest_blocks(self.configs, width, depth)

    def place(self, width: int, depth: int) -> "Cost":
        """The cost of a ``width`` x ``depth`` memory where yosys puts it: in blocks, or (small and
        shallow) in LUT RAM."""
        blocks = self.blocks(width, depth)
        cells = ceil(depth / 16) * ceil(width / 4)
        if cells <= self.lutram_cells_per_block * blocks:
            return Cost(lut4=4 * cells)
        return Cost(ebr=blocks)

    def place_rom(self, width: int, depth: int) -> "Cost":
        """The cost of a ``width`` x ``depth`` ROM: a shallow one (at most :attr:`rom_logic_depth`
        words) as logic, one LUT4 per 16 words of each bit and its read register, else as
        :meth:`place` puts a memory."""
        if depth <= self.rom_logic_depth:
            return Cost(lut4=width * ceil(depth / 16), ff=width)
        return self.place(width, depth)

    def __str__(self):
        return f"{self.kbits}-kbit {self.name}"


#: ECP5 block RAM: 18 kbit, the aspect ratios bnn-hw's memories map to. The LUT-RAM threshold is
#: measured: yosys put a 64x26 buffer (32 cells for 2 blocks) in TRELLIS_DPR16X4 cells and a 64x56 one
#: (64 cells for 2 blocks) in DP16KD (``benchmarks/cost_model.py`` on the shipped examples). So is the
#: ROM depth: the Bi-Real example's 36-word, 256-bit weight ROMs (its 8x32 convolutions) took 768 LUT4
#: and no block RAM, its 144-word ones went to block RAM.
DP16KD = BlockRam("DP16KD", 18, ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
                  lutram_cells_per_block=16, rom_logic_depth=64)
#: iCE40 block RAM: 4 kbit, 256x16 to 2048x2.
SB_RAM40_4K = BlockRam("SB_RAM40_4K", 4, ((2048, 2), (1024, 4), (512, 8), (256, 16)))

@dataclass(frozen=True)
class Cost:
    """Estimated cost of one hardware stage for one frame."""

    cycles: int = 0          #: clock cycles per frame in steady state (initiation interval)
    lut4: int = 0
    ff: int = 0
    ebr: int = 0             #: block RAMs of the geometry the plan is costed for
    weight_bits: int = 0     #: parameter bits stored on chip (weights and thresholds)
    buffer_bits: int = 0     #: feature-map bits buffered on chip
    binary_ops: int = 0      #: XNOR + popcount operations per frame (2 per weight bit)

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(**{f.name: (max if f.name == "cycles" else int.__add__)(getattr(self, f.name),
                                                                            getattr(other, f.name))
                       for f in fields(self)})

    def as_dict(self) -> dict:
        return asdict(self)


def gearbox_cost(vector_bits: int, in_width: int, out_width: int, out_vector_bits: int) -> Cost:
    """Estimated cost of a :class:`~bnn_hw.hdl.Repack` with these arguments.

    Fitted to yosys ``synth_ecp5`` of 13 gearboxes of the shipped examples, LFC and the UART server
    (``benchmarks/cost_model.py`` checks the stages they belong to): a serialiser holds two input
    words and multiplexes the output slices; an assembler writes input slices into a word and moves
    it out; a shift buffer of ``C`` bits inserting ``n`` possible word positions per bit costs about
    ``C * (3.9 + 0.2 n)`` LUT4 plus its counters.
    """
    from ..hdl.repack import repack_mode, shift_buffer_geometry
    mode = repack_mode(vector_bits, in_width, out_width, out_vector_bits)
    if mode == "serialize":
        slices = in_width // out_width
        return Cost(lut4=2 * in_width + out_width * slices // 2 + 20, ff=2 * in_width + 10)
    if mode == "deserialize":
        slices = out_width // in_width
        return Cost(lut4=3 * out_width // 2 + 2 * slices + 20, ff=2 * out_width + 10)
    capacity, unit = shift_buffer_geometry(vector_bits, in_width, out_width, out_vector_bits)
    positions = min(in_width // unit, capacity // unit)
    return Cost(lut4=200 + int(capacity * (3.9 + 0.2 * positions)), ff=capacity + 12)
