"""Every gearbox of a shipped example's plan keeps up with the plan's estimated cycles per frame.

A :class:`~bnn_hw.hdl.Repack` moves at most one word per cycle on each side, so a frame takes it as
many cycles as it has words on its busier side; the cost model counts no cycles for gearboxes, so one
that needs more than the slowest stage's cycles makes the pipeline slower than estimated. BNext's
downsampling block forked its 14x14x48 input at the join's one lane (a gearbox from two lanes to one
in front of the fork): 9,408 words a frame, where the slowest stage takes 7,056 cycles (Verilator
measured 9,408).
"""

import bnn_hw
import pytest

from bnn_hw.boards.family import DP16KD
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.folding import parse_folding
from bnn_hw.compiler.stages import Block, flatten
from bnn_hw.intmath import ceil_div
from example_testing import EXAMPLES


def gearboxes(items):
    """``(where, Repack arguments, the value it carries)`` of every gearbox in a layout."""
    for item in items:
        if not isinstance(item, Block):
            if item.gearbox is not None:
                yield item.name, item.gearbox, item.in_type
            continue
        join, bypass = item.join, item.join.bypass
        if bypass.gearbox is not None:
            yield f"{join.name} (fork)", bypass.gearbox, flatten(item.body)[0].in_type
        yield from gearboxes(item.body)
        yield from gearboxes(item.branch)
        if bypass.branch_gearbox is not None:
            yield f"{join.name} (branch)", bypass.branch_gearbox, flatten(item.branch)[-1].out_type
        if join.gearbox is not None:
            yield f"{join.name} (join)", join.gearbox, join.in_type


def gearbox_words(gearbox, value_type) -> int:
    """Words per frame on the busier side of a Repack carrying ``value_type``."""
    vector_bits, in_width, out_width, out_vector_bits = gearbox
    bits = value_type.bits
    assert bits % vector_bits == 0 and bits % out_vector_bits == 0
    return max(bits // vector_bits * ceil_div(vector_bits, in_width),
               bits // out_vector_bits * ceil_div(out_vector_bits, out_width))


SHIPPED = [(path.parent.name, None) for path in sorted(EXAMPLES.glob("fmnist_*/net.pt"))
           if path.parent.name != "fmnist_teacher"] + [("fmnist_bnext", "conv1=12x3")]


@pytest.mark.parametrize("example, folding", SHIPPED)
def test_gearboxes_keep_up_with_the_estimated_cycles_per_frame(example, folding):
    folds = parse_folding(folding) if folding else None
    plan = compile_model(bnn_hw.load(EXAMPLES / example / "net.pt"), folds, block_ram=DP16KD)
    cycles = plan.bottleneck.cost.cycles
    slower = {where: words for where, gearbox, value in gearboxes(plan.layout)
              if (words := gearbox_words(gearbox, value)) > cycles}
    assert not slower, f"gearboxes slower than the estimated {cycles} cycles per frame: {slower}"
