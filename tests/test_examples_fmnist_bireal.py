"""The Bi-Real-style example: its training script runs and compiles bit-exactly; the shipped model
matches PyTorch on the whole test set, its real-valued map is fixed point of computed widths, and it
downsamples through a real-valued shortcut (average pool, 1x1 convolution, level thresholds)."""

import bnn_hw
import pytest

from bnn_hw.boards.family import DP16KD
from bnn_hw.compiler.ops import Add, AvgPool, FixedConv, LevelThresholds, Requantize
from bnn_hw.compiler import Block, compile_model
from example_testing import EXAMPLES, check_shipped_model, short_training_run


@pytest.mark.slow
def test_one_short_training_run(tmp_path):
    short_training_run("fmnist_bireal", tmp_path, ["--epochs", "1", "--channels", "16,32", "--hidden", "32",
                                                   "--train-images", "6000"],
                       min_accuracy=0.2, images=300)   # chance is 0.1


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    check_shipped_model("fmnist_bireal")


def test_shipped_model_keeps_a_fixed_point_map_beside_its_binary_convolutions():
    plan = compile_model(bnn_hw.load(EXAMPLES / "fmnist_bireal" / "net.pt"), block_ram=DP16KD)
    types = plan.graph.types()
    tables = [n.name for n in plan.graph.nodes if isinstance(n.op, Requantize)]
    adds = [n.name for n in plan.graph.nodes if isinstance(n.op, Add)]
    assert len(tables) == 5 and len(adds) == 4
    assert all(types[t].frac == 3 and types[t].width <= 6 for t in tables)   # FixedPoint(3, 6)
    blocks = [item for item in plan.layout if isinstance(item, Block)]
    # the shortcut FIFOs carry one fixed-point value per word (one value per cycle keeps up with the
    # convolutions): 32 or 64 words per pixel, as many pixels as the body takes ahead (for the
    # downsampling block: as many of the branch's results as it makes meanwhile), in one or two
    # block RAMs
    for block in blocks:
        fork = plan.graph.node(block.join.name).inputs[1]
        bypass = block.join.bypass
        assert bypass.width == types[fork].width and bypass.words_per_vector == types[fork].shape[-1]
    assert [b.join.bypass.depth // b.join.bypass.words_per_vector for b in blocks] == [61, 61, 18, 33]
    assert [b.join.bypass.cost(plan.block_ram).ebr for b in blocks] == [1, 1, 1, 2]
    assert [[type(s.op) for s in b.branch] for b in blocks] == [[], [], [AvgPool, FixedConv, LevelThresholds], []]
    assert types[blocks[2].branch[-1].name].frac == 3    # the same grid as the body's
