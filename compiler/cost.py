"""Per-op resource and timing estimates (provenance: ``estimated``).

These are first-order models of the generated hardware on a Lattice FPGA; the build report shows
them beside the post-synthesis and post-place-and-route measurements.

Block RAM is counted in blocks of the target's primitive: every op's ``cost(in_type, fold,
block_ram)`` is given the :class:`BlockRam` of the device the plan is costed for and asks it for the
blocks each memory needs, so a plan for an iCE40 counts the iCE40's own 4-kbit blocks, not ECP5
blocks converted. The devices' block RAMs are facts of the boards (``bnn_hw.boards.family``); a plan
compiled for no device counts :data:`GENERIC_BLOCK_RAM`, a neutral block that is no device's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import lru_cache

from ..intmath import ceil_div
from .microarch import deserializer_realigns, line_buffer_rows, repack_mode, shift_buffer_geometry

__all__ = ["BlockRam", "GENERIC_BLOCK_RAM", "Cost", "gearbox_cost", "window_cost"]


@lru_cache(maxsize=4096)
def _fewest_blocks(configs: tuple[tuple[int, int], ...], width: int, depth: int) -> int:
    """Fewest blocks for ``width`` bits x ``depth``, each slice of the width in one (depth, width)
    configuration (an unbounded knapsack over the width)."""
    best = [0] + [None] * width
    for w in range(1, width + 1):
        best[w] = min(ceil_div(depth, d) + best[max(0, w - cw)] for d, cw in configs)
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
    #: yosys builds a ROM from LUTs when it holds at most this many bits per block it would take
    #: (0: not measured, every ROM placed like a memory)
    rom_logic_bits_per_block: int = 0

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
        cells = ceil_div(depth, 16) * ceil_div(width, 4)
        if cells <= self.lutram_cells_per_block * blocks:
            return Cost(lut4=4 * cells)
        return Cost(ebr=blocks)

    def place_rom(self, width: int, depth: int) -> "Cost":
        """The cost of a ``width`` x ``depth`` ROM: a small one (at most
        :attr:`rom_logic_bits_per_block` bits per block) as logic, one LUT4 per 16 words of each bit
        and its read register, else as :meth:`place` puts a memory."""
        if width * depth <= self.rom_logic_bits_per_block * self.blocks(width, depth):
            return Cost(lut4=width * ceil_div(depth, 16), ff=width)
        return self.place(width, depth)

    def place_banks(self, width: int, depth: int, bank_depth: int) -> "Cost":
        """The cost of a ``width`` x ``depth`` ROM built as banks of ``bank_depth`` words (the last
        one shorter), each a ROM of its own (:meth:`place_rom`): whole blocks for the full banks, a
        short last bank perhaps in logic."""
        total = Cost()
        for start in range(0, depth, bank_depth):
            total = total + self.place_rom(width, min(bank_depth, depth - start))
        return total

    def __str__(self):
        return f"{self.kbits}-kbit {self.name}"


#: What a plan counts when it is compiled for no device: not a device's block RAM but an 18-kbit block
#: in the aspect ratios common to FPGA families (16K x 1 to 512 x 36), every memory and ROM placed in
#: whole blocks (no LUT RAM, no ROM in logic, which depend on the device and its synthesis). A device's
#: figures come from its own block RAM (``compile_model(..., block_ram=board.chip.block_ram)`` or
#: :meth:`~bnn_hw.compiler.plan.Plan.costed_for`), as every board command does.
GENERIC_BLOCK_RAM = BlockRam("generic block RAM", 18,
                             ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)))


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
    dsp: int = 0             #: multipliers in DSP blocks (an ECP5 MULT18X18D each)

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(**{f.name: (max if f.name == "cycles" else int.__add__)(getattr(self, f.name),
                                                                            getattr(other, f.name))
                       for f in fields(self)})

    def as_dict(self) -> dict:
        return asdict(self)


def gearbox_cost(vector_bits: int, in_width: int, out_width: int, out_vector_bits: int) -> Cost:
    """Estimated cost of a :class:`~bnn_hw.hdl.Repack` with these arguments.

    Fitted to yosys ``synth_ecp5`` of the shipped examples' gearboxes and a sweep of serialisers
    (``benchmarks/cost_model.py`` checks the stages they belong to): a serialiser holds two input
    words and multiplexes the output slices, about ``1.6 + 0.06 * slices`` LUT4 per input bit; a
    deserialiser shifts input words into a register (no logic per bit but a shift of the last word
    of a vector that fills its output word only in part); a shift buffer of ``C`` bits inserting
    ``n`` possible word positions per bit costs about ``C * (3.9 + 0.2 n)`` LUT4 plus its counters.
    """
    mode = repack_mode(vector_bits, in_width, out_width, out_vector_bits)
    if mode == "serialize":
        slices = in_width // out_width
        return Cost(lut4=round(in_width * (1.6 + 0.06 * slices)) + 5,
                    ff=2 * in_width + slices.bit_length() + 2)
    if mode == "deserialize":
        slices = out_width // in_width
        counters = (slices - 1).bit_length() + (ceil_div(vector_bits, in_width) - 1).bit_length()
        realigns = deserializer_realigns(vector_bits, in_width, out_width, out_vector_bits)
        return Cost(lut4=4 + 4 * (slices - 1).bit_length() + out_width * realigns,
                    ff=2 * out_width - in_width + counters + 1)
    capacity, unit = shift_buffer_geometry(vector_bits, in_width, out_width, out_vector_bits)
    positions = min(in_width // unit, capacity // unit)
    return Cost(lut4=200 + int(capacity * (3.9 + 0.2 * positions)), ff=capacity + 12)


def window_cost(height: int, width: int, channels: int, kernel: int, stride: int, groups: int,
                block_ram: BlockRam) -> Cost:
    """Estimated cost of a :class:`~bnn_hw.hdl.SlidingWindow` with these arguments, its line buffer
    placed by ``block_ram``.

    Fitted to yosys ``synth_ecp5`` of 84 generators, as the build runs it (``benchmarks/window_sweep.py``:
    7x7 to 28x28 images, 1x1 and 3x3 kernels, 16 to 256 channels, 1 to 4 groups): LUT4 mean error
    5.1%, 10.7% at most on 3x3 windows and 26% on the smallest 1x1 ones (7x7, 16 channels: about
    120 LUT4). The model counts: counters and schedule tables (115 LUT4, 60 more for a kernel over
    1x1, and then 3 LUT4 and 1.2 FF per image column for the read address's registered parts:
    clamped column and slot base), the 3-word output FIFO in LUT RAM, the word read registered as
    it is (one FF per pixel bit; with the line buffer in block RAM those flip-flops are the ones an
    ECP5 build moves into the block RAM, and the collision-free line buffer needs no read-before-
    write logic), and per bit the multiplexing after it: 0.4 per pixel bit and doubling of the
    groups, and from LUT RAM a 2:1 multiplexer per pixel bit for each further 16 words of depth;
    from block RAM 0.1 per pixel bit more.
    """
    out_width = channels // groups
    depth = line_buffer_rows(kernel, stride, height) * width
    lines = block_ram.place(channels, depth)
    doublings = (groups - 1).bit_length()
    if lines.ebr:
        read = 0.1 * channels + 0.45 * channels * doublings
    else:
        read = 0.4 * channels * doublings + channels * (ceil_div(depth, 16) - 1)
    address = (kernel > 1) * width       # the registered address parts grow with the row
    return lines + Cost(lut4=115 + 60 * (kernel > 1) + 3 * address + 4 * ceil_div(out_width, 4) + round(read),
                        ff=43 + 26 * (kernel > 1) + round(1.2 * address) + channels + 2 * out_width
                        + channels * (lines.ebr == 0),
                        buffer_bits=depth * channels)
