"""SlidingWindow: the window words equal the NumPy windows of the reference, under stalls, frame
after frame; the line buffer holds ``kernel + stride`` rows."""

import numpy as np
import pytest

from bnn_hw.compiler.ops import BinaryConv2d
from bnn_hw.hdl import SlidingWindow
from bnn_hw.hdl.memory_attrs import COLLISION_FREE
from stream_testing import assert_rejects, elaborated, pack_bits, stream_through


def _expected(images, kernel, stride, padding, pad_bit, replicate=False):
    """Window pixel words, from the compiler op's own window extraction."""
    op = BinaryConv2d(np.ones((1, kernel, kernel, images.shape[-1]), np.uint8), stride, padding,
                      1 if pad_bit else -1, replicate=replicate)
    windows = op.windows(images)  # (B, Ho, Wo, kh, kw, C)
    return [pack_bits(px, images.shape[-1])[0] for px in windows.reshape(-1, images.shape[-1])]


@pytest.mark.parametrize("h, w, c, k, s, p, pad_bit", [
    (5, 4, 3, 3, 1, 1, 0), (6, 7, 2, 3, 1, 1, 1), (7, 5, 1, 3, 2, 1, 0), (8, 6, 4, 3, 2, 0, 0),
    (5, 5, 2, 5, 1, 2, 1), (4, 9, 3, 1, 1, 0, 0), (7, 7, 2, 1, 2, 0, 0), (3, 3, 1, 3, 1, 2, 0),
    (9, 4, 5, 5, 2, 2, 1), (6, 5, 2, 1, 1, 1, 1), (2, 2, 1, 3, 1, 1, 0),
])
@pytest.mark.parametrize("stall", [0.0, 0.4])
@pytest.mark.parametrize("replicate", [False, True])
def test_windows_match_reference(h, w, c, k, s, p, pad_bit, stall, replicate):
    rng = np.random.default_rng(h * 100 + w * 10 + k)
    frames = 3
    images = rng.integers(0, 2, (frames, h, w, c)).astype(np.uint8)
    if replicate and p >= k:   # windows wholly in the border: nothing to replicate
        assert_rejects(SlidingWindow, h, w, c, k, s, p, pad_bit, replicate=True, match="padding < kernel")
        return
    dut = _Watched(h, w, c, k, s, p, pad_bit, replicate=replicate)
    inputs = [pack_bits(px, c)[0] for px in images.reshape(-1, c)]
    expected = _expected(images, k, s, p, pad_bit, replicate)
    reads = []
    got = stream_through(dut, inputs, len(expected), stall=stall, seed=k + s, monitors=[dut.no_collision(reads)])
    assert got == expected
    assert 0 < len(reads) <= len(expected)   # the monitor saw the reads: one per word, none for padding


class _Watched(SlidingWindow):
    """A SlidingWindow whose line buffer a monitor watches: it is marked collision-free (the build
    lets yosys treat a read of the word being written as X), so no cycle may read and write the same
    word."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        self.lines = m.submodules.lines
        assert self.lines.attrs == {COLLISION_FREE: 1}
        return m

    def no_collision(self, reads):
        async def monitor(ctx):
            (wr,), (rd,) = self.lines.write_ports, self.lines.read_ports
            async for _, _, *values in ctx.tick().sample(wr.en, wr.addr, rd.en, rd.addr):
                w_en, w_addr, r_en, r_addr = values
                if r_en:
                    reads.append(r_addr)
                    assert not (w_en and w_addr == r_addr), f"read and write of word {r_addr} in one cycle"
        return monitor


@pytest.mark.parametrize("c, groups", [(4, 2), (6, 3), (3, 3)])
def test_groups_send_each_window_once_per_group(c, groups):
    h, w, k = 5, 6, 3
    images = np.random.default_rng(c).integers(0, 2, (2, h, w, c)).astype(np.uint8)
    dut = SlidingWindow(h, w, c, k, 1, 1, 0, groups)
    inputs = [pack_bits(px, c)[0] for px in images.reshape(-1, c)]
    op = BinaryConv2d(np.ones((1, k, k, c), np.uint8), 1, 1, -1)
    windows = op.windows(images).reshape(-1, k * k, groups, c // groups)  # (window, tap, group, channel)
    expected = [pack_bits(tap, c // groups)[0] for win in windows for j in range(groups) for tap in win[:, j]]
    assert stream_through(dut, inputs, len(expected), stall=0.3, seed=groups) == expected


def test_one_window_word_per_cycle_when_unstalled():
    h, w, c, k = 8, 8, 2, 3
    images = np.random.default_rng(0).integers(0, 2, (3, h, w, c)).astype(np.uint8)
    dut = SlidingWindow(h, w, c, k, 1, 1)
    inputs = [pack_bits(px, c)[0] for px in images.reshape(-1, c)]
    stamps = []
    expected = _expected(images, k, 1, 1, 0)
    assert stream_through(dut, inputs, len(expected), stamps=stamps) == expected
    per_frame = h * w * k * k
    # frames 2 and 3 stream without a bubble: the next frame's rows are written during the last rows
    assert stamps[-1] - stamps[per_frame - 1] <= 2 * per_frame + 2


def test_line_buffer_size():
    dut = SlidingWindow(28, 28, 32, 3, 1, 1)
    assert dut.rows == 4 and dut.buffer_bits == 4 * 28 * 32
    assert SlidingWindow(3, 10, 1, 3, 1, 1).rows == 3  # never more rows than the image


def test_arguments():
    assert_rejects(SlidingWindow, 0, 4, 1, 3, match="height")
    assert_rejects(SlidingWindow, 4, 4, 1, 3, 1, -1, match="padding")
    assert_rejects(SlidingWindow, 4, 4, 1, 3, 1, 0, 2, match="pad_bit")
    assert_rejects(SlidingWindow, 2, 4, 1, 3, 1, 0, match="does not fit")
    assert_rejects(SlidingWindow, 4, 4, 3, 3, 1, 0, 0, 2, match="groups")
    assert "kernel=3" in repr(elaborated(SlidingWindow(4, 4, 1, 3)))
