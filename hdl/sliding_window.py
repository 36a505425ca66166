"""Sliding-window generator: a channels-last bit image in, the convolution windows out."""

import numpy as np
from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..compiler import ops
# the rows it buffers and its schedule are the compiler's plan (FIFO depths, cost)
from ..compiler.microarch import line_buffer_rows, window_out_size, window_row_span
from ._checks import require_positive_ints
from ._output import buffered_output
from .chain import Chain
from .memory_attrs import COLLISION_FREE
from .mvu import MatrixVectorUnit
from .registry import builds
from .repack import Repack

__all__ = ["SlidingWindow"]


class SlidingWindow(wiring.Component):
    """Stream the ``kernel x kernel`` windows of a channels-last image, one pixel word at a time.

    Input: the ``height x width`` image as one word of ``channels`` bits per pixel, row by row.
    Output: for each output position ``(oy, ox)`` in row-major order (``Ho = (height + 2 * padding -
    kernel) // stride + 1`` by ``Wo`` likewise), the window's ``kernel * kernel`` pixel words in
    ``(ky, kx)`` order: pixel ``(oy * stride - padding + ky, ox * stride - padding + kx)``, or the pad
    word (every bit ``pad_bit``) where that lies outside the image; with ``replicate``, the nearest
    pixel of the image there instead (its coordinates clamped to the image). Frames follow each other back to
    back; the windows of one frame are read while the next frame's first rows are written.

    With ``groups`` > 1 each window is sent once per group ``j`` (in order), as words of the group's
    ``channels / groups`` channels (bits ``j * channels / groups`` upwards of each pixel).

    Every input pixel is written once into a line buffer of :func:`line_buffer_rows` rows (block RAM,
    ``rows * width`` words of ``channels`` bits) and read from there for each window that covers it;
    input rows that no window covers are written and dropped. The producer waits only when the buffer
    holds all the rows still needed; one window word leaves per cycle otherwise. ``i.ready`` depends
    only on registers, and the consumer's ready reaches no register enable combinationally (the
    output passes through a FIFO, and the advance enable is a register).

    Parameters
    ----------
    height, width, channels, kernel, stride : int, positive
    padding : int, non-negative
    pad_bit : 0 or 1
    groups : int, positive, dividing ``channels``
    replicate : bool (needs ``padding < kernel``)

    Attributes
    ----------
    i : In(stream.Signature(unsigned(channels)))
    o : Out(stream.Signature(unsigned(channels // groups)))
    """

    def __init__(self, height, width, channels, kernel, stride=1, padding=0, pad_bit=0, groups=1, replicate=False):
        # recorded first, so that __repr__ works if validation fails
        self._h, self._w, self._c = height, width, channels
        self._k, self._s, self._p, self._pad_bit, self._g = kernel, stride, padding, pad_bit, groups
        self._replicate = bool(replicate)
        require_positive_ints(height=height, width=width, channels=channels, kernel=kernel, stride=stride,
                              groups=groups)
        if channels % groups:
            raise ValueError(f"groups={groups} must divide channels={channels}")
        if not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be a non-negative integer, not {padding!r}")
        if replicate and padding >= kernel:
            raise ValueError(f"replicate padding needs padding < kernel (every window reaching into the "
                             f"image), not padding={padding} with kernel={kernel}")
        if pad_bit not in (0, 1):
            raise ValueError(f"pad_bit must be 0 or 1, not {pad_bit!r}")
        if min(window_out_size(size, kernel, stride, padding) for size in (height, width)) < 1:
            raise ValueError(f"a {kernel}x{kernel} window with padding {padding} does not fit a "
                             f"{height}x{width} image")
        super().__init__({
            "i": In(stream.Signature(unsigned(channels))),
            "o": Out(stream.Signature(unsigned(channels // groups))),
        })

    @property
    def out_height(self):
        return window_out_size(self._h, self._k, self._s, self._p)

    @property
    def out_width(self):
        return window_out_size(self._w, self._k, self._s, self._p)

    @property
    def rows(self):
        """Rows held in the line buffer."""
        return line_buffer_rows(self._k, self._s, self._h)

    @property
    def buffer_bits(self):
        return self.rows * self._w * self._c

    def _row_schedule(self, oy):
        """``(need, release)`` of output row ``oy``: it reads image rows ``lo..hi`` and, when done,
        frees rows ``lo..next_lo - 1`` (after the frame's last output row, all the rest), so all of
        those must be buffered before it starts."""
        lo, hi, next_lo = window_row_span(oy, self._h, self._k, self._s, self._p)
        release = self._h - lo if oy == self.out_height - 1 else next_lo - lo
        return max(hi - lo + 1, 0), release

    def __repr__(self):
        return (f"SlidingWindow(height={self._h}, width={self._w}, channels={self._c}, kernel={self._k}, "
                f"stride={self._s}, padding={self._p}, pad_bit={self._pad_bit}, groups={self._g}"
                + (", replicate=True)" if self._replicate else ")"))

    def elaborate(self, platform):
        m = Module()
        H, W, C, K, S, P, G = self._h, self._w, self._c, self._k, self._s, self._p, self._g
        Ho, Wo, R = self.out_height, self.out_width, self.rows

        # collision-free: a read (see rd.en) is of a complete row the window needs, never of the slot
        # being written (tests/test_hdl_sliding_window.py checks it)
        m.submodules.lines = lines = Memory(shape=unsigned(C), depth=R * W, init=[], attrs={COLLISION_FREE: 1})
        wr, rd = lines.write_port(), lines.read_port()
        slot_base = Array(Const(slot * W, range(R * W)) for slot in range(R))

        filled = Signal(range(R + 1))   # complete rows in the buffer that are still needed
        row_done = Signal()
        released = Signal(range(R + 1))

        # ---- writer: rows go into the slots cyclically ----
        wcol, wslot = Signal(range(W)), Signal(range(R))
        put = Signal()
        m.d.comb += [
            self.i.ready.eq(filled < R),
            put.eq(self.i.valid & self.i.ready),
            wr.addr.eq(slot_base[wslot] + wcol),
            wr.data.eq(self.i.payload),
            wr.en.eq(put),
            row_done.eq(put & (wcol == W - 1)),
        ]
        with m.If(put):
            m.d.sync += wcol.eq(Mux(wcol == W - 1, 0, wcol + 1))
            with m.If(wcol == W - 1):
                m.d.sync += wslot.eq(Mux(wslot == R - 1, 0, wslot + 1))

        # ---- reader: nested counters over (oy, ox, group, ky, kx) ----
        coord = signed(max(H, W, K + S * max(Ho, Wo)).bit_length() + 2)
        oy, ox = Signal(range(Ho)), Signal(range(Wo))
        ky, kx = Signal(range(K)), Signal(range(K))
        group = Signal(range(G))
        iy0, ix0 = Signal(coord, init=-P), Signal(coord, init=-P)   # window origin
        iy, ix = Signal(coord, init=-P), Signal(coord, init=-P)     # current pixel
        rslot = Signal(range(R))   # slot of the first row the current output row needs
        kslot = Signal(range(R))   # slot of row iy (when it is inside the image)
        # The read address base + column, its parts kept in registers of their own beside ix, ix0,
        # kslot and rslot (each set from the values those are set from, never from their next
        # values): no clamp before the line buffer, whose LUT-RAM read is combinational, and no
        # comparator after the counters' decisions
        column, column0 = Signal(range(W)), Signal(range(W))   # ix, ix0 clamped into the image (at -P: 0)
        base, rbase = Signal(range(R * W)), Signal(range(R * W))   # slot_base[kslot], [rslot]

        def clamped(x):
            return Mux(x < 0, 0, Mux(x > W - 1, W - 1, x))

        # Per output row, how many buffered rows it needs (``need``) and how many it releases when it
        # is done (``release``): tables indexed by oy, loaded into registers at each row change so
        # the emit condition is one comparison of registers.
        needs, releases = zip(*(self._row_schedule(oy) for oy in range(Ho)))
        next_need = Array(Const(needs[(oy + 1) % Ho], range(R + 1)) for oy in range(Ho))
        next_release = Array(Const(releases[(oy + 1) % Ho], range(R + 1)) for oy in range(Ho))
        need = Signal(range(R + 1), init=needs[0])
        release = Signal(range(R + 1), init=releases[0])
        last_row = oy == Ho - 1

        valid, payload, adv = buffered_output(m, self.o)
        emit = Signal()
        row_end = Signal()
        m.d.comb += [
            emit.eq(adv & (filled >= need)),
            row_end.eq((kx == K - 1) & (ky == K - 1) & (group == G - 1) & (ox == Wo - 1)),
            # (outside the image the pad word replaces the data, or with replicate the nearest pixel
            # is read: above the image kslot still holds row 0's slot, below it row H - 1's)
            rd.addr.eq(base + column),
        ]
        pad = Signal()
        if not self._replicate:
            m.d.comb += pad.eq((iy < 0) | (iy > H - 1) | (ix < 0) | (ix > W - 1))
        # read only for an emitted word that is not padding: always a complete row that the output
        # row needs, never the slot being written (a padding row may need no row at all)
        m.d.comb += rd.en.eq(emit & ~pad)

        rslot_next = Signal(range(R))
        m.d.comb += rslot_next.eq(Mux(rslot + release >= R, rslot + release - R, rslot + release))
        column_next, column0_next, rbase_next = Signal.like(column), Signal.like(column0), Signal.like(rbase)
        m.d.comb += [
            column_next.eq(clamped(ix + 1)),
            column0_next.eq(clamped(ix0 + S)),
            rbase_next.eq(slot_base[rslot_next]),
        ]
        with m.If(emit):
            with m.If(kx != K - 1):
                m.d.sync += [kx.eq(kx + 1), ix.eq(ix + 1), column.eq(column_next)]
            with m.Else():
                m.d.sync += [kx.eq(0), ix.eq(ix0), column.eq(column0)]
                with m.If(ky != K - 1):
                    m.d.sync += [ky.eq(ky + 1), iy.eq(iy + 1)]
                    with m.If((iy >= 0) & (iy < H - 1)):
                        m.d.sync += [kslot.eq(Mux(kslot == R - 1, 0, kslot + 1)),
                                     base.eq(Mux(kslot == R - 1, 0, base + W))]
                with m.Else():
                    m.d.sync += [ky.eq(0), iy.eq(iy0), kslot.eq(rslot), base.eq(rbase)]
                    with m.If(group != G - 1):
                        m.d.sync += group.eq(group + 1)
                    with m.Elif(ox != Wo - 1):
                        m.d.sync += [group.eq(0), ox.eq(ox + 1), ix0.eq(ix0 + S), ix.eq(ix0 + S),
                                     column0.eq(column0_next), column.eq(column0_next)]
                    with m.Else():
                        m.d.sync += [group.eq(0), ox.eq(0), ix0.eq(-P), ix.eq(-P), column0.eq(0),
                                     column.eq(0), rslot.eq(rslot_next), kslot.eq(rslot_next),
                                     rbase.eq(rbase_next), base.eq(rbase_next), need.eq(next_need[oy]),
                                     release.eq(next_release[oy])]
                        with m.If(~last_row):
                            m.d.sync += [oy.eq(oy + 1), iy0.eq(iy0 + S), iy.eq(iy0 + S)]
                        with m.Else():
                            m.d.sync += [oy.eq(0), iy0.eq(-P), iy.eq(-P)]
        m.d.comb += released.eq(Mux(emit & row_end, release, 0))
        m.d.sync += filled.eq(filled + row_done - released)

        # ---- memory data one cycle after the address, registered as it is (reset-less, nothing
        # between: on the ECP5 this register is the block RAM's own output register), then the pad
        # word or the group's part of it into the output register ----
        pad1, group1, valid1 = Signal(), Signal(range(G)), Signal()
        pad2, group2, valid2 = Signal(), Signal(range(G)), Signal()
        data2 = Signal(C, reset_less=True)
        width = C // G
        with m.If(adv):
            m.d.sync += [
                valid1.eq(emit), pad1.eq(pad), group1.eq(group),
                valid2.eq(valid1), pad2.eq(pad1), group2.eq(group1), data2.eq(rd.data),
                valid.eq(valid2),
                payload.eq(Mux(pad2, Const((1 << width) - 1 if self._pad_bit else 0, width),
                               data2.word_select(group2, width))),
            ]
        return m


# A convolution is a window generator, a gearbox to the unit's words where they differ, and a
# matrix-vector unit.

def _windows(op, in_type, simd: int) -> dict:
    """A binary convolution's window generator and, where the unit's words differ from pixels, the
    gearbox to ``simd``-bit words."""
    h, w, c = in_type.shape
    stages = {"window": SlidingWindow(h, w, c, op.kernel, op.stride, op.padding, op.pad_bit, op.groups,
                                      replicate=op.replicate)}
    if simd != op.group_channels:
        stages["gearbox"] = Repack(op.window_bits, op.group_channels, simd)
    return stages


@builds(ops.BinaryConv2d)
def _binary_conv(op, in_type, fold):
    """Sliding-window generator, a gearbox to ``simd``-bit words, and a matrix-vector unit whose
    threshold table follows each output pixel's border class."""
    h, w, _ = in_type.shape
    g, per = op.groups, op.out_channels // op.groups
    stages = _windows(op, in_type, fold.simd)
    # Vector v is group v % g of an output pixel: weight set v % g, and threshold table
    # (border class of the pixel) * g + group, from a schedule when there is more than one.
    weights = op.weights.reshape(g, per, -1)
    thresholds = schedule = None
    if op.thresholds is not None:
        classes, _, k = op.thresholds.shape
        thresholds = op.thresholds.reshape(classes * g, per, k)
        if classes * g > 1:
            class_of, _ = op.border_classes(h, w)
            schedule = (class_of.reshape(-1, 1) * g + np.arange(g)).reshape(-1)
    stages["mvu"] = MatrixVectorUnit(weights, thresholds, pe=fold.pe, simd=fold.simd, schedule=schedule)
    return Chain(stages)


@builds(ops.SparseConv2d)
def _sparse_conv(op, in_type, fold):
    """Sliding-window generator, a gearbox to ``simd``-bit words (whole windows unrolled), and the
    sparse product of each window."""
    from .unrolled_dense import sparse_unit
    stages = _windows(op, in_type, fold.simd)
    stages["unit"] = sparse_unit(op.dense, op.is_unrolled(in_type, fold), fold)
    return Chain(stages)


@builds(ops.PixelConv2d)
def _pixel_conv(op, in_type, fold):
    """Sliding windows of whole pixels, a gearbox to ``simd`` pixels, an 8-bit matrix-vector unit: +-1
    weights, or an :class:`~bnn_hw.compiler.ops.IntPixelConv2d`'s integer weights as bit planes (in
    DSP multipliers with a ``:dsp`` folding)."""
    h, w, c = in_type.shape
    stages = {"window": SlidingWindow(h, w, 8 * c, op.kernel, op.stride, op.padding, 0)}
    if fold.simd != c:
        stages["gearbox"] = Repack(8 * op.window_bits, 8 * c, 8 * fold.simd)
    stages["mvu"] = MatrixVectorUnit(op.weights.reshape(op.out_channels, -1), op.thresholds,
                                     pe=fold.pe, simd=fold.simd, element_width=8, weight_bits=op.weight_bits,
                                     multipliers=fold.multipliers)
    return Chain(stages)
