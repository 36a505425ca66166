"""Block-RAM estimates count the target's own blocks: ECP5's 18-kbit DP16KD or iCE40's 4-kbit SB_RAM40_4K
(device facts, ``bnn_hw.boards.family``); a plan compiled for no device counts the compiler's neutral
GENERIC_BLOCK_RAM."""

import pytest

from bnn_hw.boards.family import DP16KD, SB_RAM40_4K
from bnn_hw.compiler.cost import GENERIC_BLOCK_RAM, BlockRam, Cost, gearbox_cost, window_cost
from bnn_hw.compiler.folding import parse_folding
from bnn_hw.hdl.pipeline import build_pipeline, payload_width
from bnn_hw.compiler import compile_model
from conftest import random_cnn, random_mlp


def test_block_counts_follow_the_primitives_aspect_ratios():
    assert DP16KD.blocks(36, 512) == 1 and DP16KD.blocks(1024, 6) == 29     # 1024 / 36 wide
    assert SB_RAM40_4K.blocks(16, 256) == 1 and SB_RAM40_4K.blocks(1024, 6) == 64   # 1024 / 16 wide
    assert SB_RAM40_4K.blocks(1, 4096) == 2 and SB_RAM40_4K.blocks(8, 600) == 2


@pytest.mark.parametrize("block_ram", [DP16KD, SB_RAM40_4K])
@pytest.mark.parametrize("width, depth", [(1, 1), (7, 100), (64, 24), (1024, 6), (18, 5000), (300, 2048)])
def test_blocks_always_hold_the_memory(block_ram, width, depth):
    n = block_ram.blocks(width, depth)
    assert n * block_ram.kbits * 1024 >= width * depth
    assert n <= min(-(-depth // d) * -(-width // w) for d, w in block_ram.configs)


def test_width_is_split_across_aspect_ratios_and_small_memories_go_to_lut_ram():
    assert DP16KD.blocks(24, 12288) == 17        # 9 + 9 + 4 + 2 bits wide, as yosys maps it
    assert DP16KD.place(64, 26) == Cost(lut4=4 * 2 * 16)   # 32 16x4 cells instead of 2 blocks
    assert DP16KD.place(64, 56) == Cost(ebr=2)
    assert SB_RAM40_4K.place(64, 26) == Cost(ebr=SB_RAM40_4K.blocks(64, 26))   # no LUT RAM on iCE40


def test_roms_go_to_logic_where_yosys_finds_them_cheaper():
    # memory_libmap: 1/16 per ROM bit in logic against 128 per block, so up to 2,048 bits a block
    assert DP16KD.place_rom(256, 36) == Cost(lut4=256 * 3, ff=256)   # 9,216 bits, 8 blocks
    assert DP16KD.place_rom(16, 128) == Cost(lut4=16 * 8, ff=16)     # 2,048 bits, 1 block
    assert DP16KD.place_rom(256, 144) == Cost(ebr=8)
    assert DP16KD.place_rom(36, 64) == Cost(ebr=1)                   # 2,304 bits in 1 block
    assert SB_RAM40_4K.place_rom(16, 128) == Cost(ebr=1)             # not measured on the iCE40


def test_window_estimates_follow_the_read_path():
    # a 1x1 window over 4 groups reads the whole pixel word and sends a quarter of it: a smaller
    # output register, a selection of the group more (yosys: 616 LUT4 against 605 for the whole pixel)
    grouped, whole = (window_cost(14, 14, 128, 1, 1, g, DP16KD) for g in (4, 1))
    assert grouped.ff < whole.ff and grouped.buffer_bits == whole.buffer_bits == 2 * 14 * 128
    assert abs(grouped.lut4 - whole.lut4) < 0.1 * whole.lut4
    # a line buffer in block RAM is counted in blocks, one in LUT RAM in LUT4
    big = window_cost(28, 28, 64, 3, 1, 1, DP16KD)
    assert big.ebr == DP16KD.blocks(64, 4 * 28) and whole.ebr == 0
    # deeper LUT RAM adds a multiplexer per pixel bit for every further 16 words
    assert window_cost(14, 14, 64, 1, 1, 1, DP16KD).lut4 - window_cost(7, 7, 64, 1, 1, 1, DP16KD).lut4 \
        >= 64 + 4 * 16


def test_ops_count_the_block_ram_they_are_given():
    plan = compile_model(random_mlp(64, [64, 32], 10, seed=0), block_ram=DP16KD)
    dense = plan.stages[1]
    ecp5 = dense.op.cost(dense.in_type, dense.fold, DP16KD)
    ice40 = dense.op.cost(dense.in_type, dense.fold, SB_RAM40_4K)
    # the iCE40 has no LUT RAM: what the ECP5 keeps in LUT RAM takes blocks there
    assert ice40.ebr > ecp5.ebr and ice40.lut4 <= ecp5.lut4
    assert dense.cost == (ecp5 if dense.gearbox is None else ecp5 + gearbox_cost(*dense.gearbox))


def test_a_plan_costed_for_ice40_counts_its_blocks_and_keeps_everything_else():
    ecp5 = compile_model(random_mlp(64, [64, 32], 10, seed=0), block_ram=DP16KD)
    ice40 = ecp5.costed_for(SB_RAM40_4K)
    assert ecp5.costed_for(DP16KD) is ecp5 and ice40.block_ram is SB_RAM40_4K
    assert ice40.total.ebr > ecp5.total.ebr   # shallow, wide weight memories waste 4-kbit blocks
    assert ice40.total.ebr * 4 >= ecp5.total.weight_bits / 1024
    same = ("cycles", "weight_bits", "buffer_bits", "binary_ops")
    assert [getattr(ice40.total, k) for k in same] == [getattr(ecp5.total, k) for k in same]
    assert ice40.total.lut4 <= ecp5.total.lut4   # no LUT RAM on the iCE40
    assert ice40.total.ff <= ecp5.total.ff       # no shallow ROMs built from logic and registers either
    direct = compile_model(random_mlp(64, [64, 32], 10, seed=0), block_ram=SB_RAM40_4K)
    assert direct.total == ice40.total


def test_fit_with_ice40_blocks_stays_within_the_ice40_capacity():
    capacity = {"lut4": 5280, "ff": 5280, "ebr": 30}
    plan = compile_model(random_mlp(64, [64, 32], 10, seed=0), fit=("iCE40UP5K", capacity),
                         block_ram=SB_RAM40_4K)
    assert plan.block_ram is SB_RAM40_4K and plan.total.ebr <= 0.8 * 30


def test_a_plan_for_no_device_counts_the_generic_block_ram():
    """Without a device's block RAM a plan counts whole 18-kbit blocks, nothing in LUT RAM or logic; the
    device's own primitive changes the estimates but not the plan."""
    model = random_mlp(64, [64, 32], 10, seed=0)
    plan = compile_model(model)
    assert plan.block_ram is GENERIC_BLOCK_RAM and str(GENERIC_BLOCK_RAM) == "18-kbit generic block RAM"
    assert GENERIC_BLOCK_RAM.place(64, 26) == Cost(ebr=2) and GENERIC_BLOCK_RAM.place_rom(16, 128) == Cost(ebr=1)
    ecp5 = compile_model(model, block_ram=DP16KD)
    assert plan.folds == ecp5.folds and plan.costed_for(DP16KD).total == ecp5.total
    assert plan.total.ebr >= ecp5.total.ebr and plan.total.lut4 <= ecp5.total.lut4


def test_the_compiler_names_no_device_block_ram():
    """The devices' block RAMs are the boards' (``bnn_hw.boards.family``); the compiler's only one is neutral."""
    import bnn_hw.compiler as compiler
    import bnn_hw.compiler.cost as cost
    found = {name for module in (compiler, cost) for name, value in vars(module).items() if isinstance(value, BlockRam)}
    assert found == {"GENERIC_BLOCK_RAM"}


def test_bad_geometry_is_rejected():
    with pytest.raises(ValueError, match="configs"):
        BlockRam("X", 4, ())


@pytest.mark.parametrize("model, folding", [
    (random_mlp(100, [64, 30], 10, seed=0), None),
    (random_mlp(64, [48], 10, seed=1, thresholds=(16,)), "dense1=4x16,dense4=2x12"),
    (random_cnn(seed=0), None),
    (random_cnn(image=(1, 12, 10), convs=((8, 3, 1, 1, -1, 1), (6, 3, 2, 1, 0, 2)), pools=(0,), seed=2), None),
    (random_cnn(image=(2, 8, 8), convs=((8, 3, 1, 1, 0, 1),), pixels=True, thresholds=(), seed=3), None),
])
def test_stage_word_bits_are_the_hardwares_ports(model, folding):
    plan = compile_model(model, parse_folding(folding) if folding else None)
    pipeline = build_pipeline(plan)
    for stage in plan.stages:
        hardware = pipeline.stages[stage.name]
        assert stage.op.word_bits(stage.in_type, stage.fold) == (payload_width(hardware, "i"),
                                                                  payload_width(hardware, "o")), stage.name
        if stage.gearbox is not None:
            gearbox = pipeline.stages[f"{stage.name}_repack"]
            assert stage.gearbox[1:3] == (gearbox.in_width, gearbox.out_width)
            assert stage.cost.lut4 == stage.op.cost(stage.in_type, stage.fold, plan.block_ram).lut4 + gearbox_cost(
                *stage.gearbox).lut4
