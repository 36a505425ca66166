"""OR max-pooling of a channels-last bit image (max-pool on +-1 values is a bitwise OR)."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import require_positive_ints
from ._output import buffered_output

__all__ = ["OrPool"]


class OrPool(wiring.Component):
    """Non-overlapping ``kernel x kernel`` OR pooling (stride ``kernel``, PyTorch's floor mode).

    Input: the ``height x width`` image as one ``channels``-bit word per pixel, row by row.
    Output: the ``(height // kernel) x (width // kernel)`` pooled image in the same form; output
    pixel ``(oy, ox)`` is the OR of input pixels ``(oy * kernel + dy, ox * kernel + dx)``. Rows and
    columns beyond the last whole window are consumed and dropped.

    One input pixel per cycle: a register ORs along a row, a buffer of ``width // kernel`` words
    (distributed RAM) ORs the rows of a window together. ``i.ready`` depends only on registers.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(channels)))
    o : Out(stream.Signature(unsigned(channels)))
    """

    def __init__(self, height, width, channels, kernel):
        require_positive_ints(height=height, width=width, channels=channels, kernel=kernel)
        if kernel < 2 or kernel > min(height, width):
            raise ValueError(f"kernel must be at least 2 and fit the {height}x{width} image, not {kernel}")
        self._h, self._w, self._c, self._k = height, width, channels, kernel
        super().__init__({
            "i": In(stream.Signature(unsigned(channels))),
            "o": Out(stream.Signature(unsigned(channels))),
        })

    def __repr__(self):
        return f"OrPool(height={self._h}, width={self._w}, channels={self._c}, kernel={self._k})"

    def elaborate(self, platform):
        m = Module()
        H, W, C, K = self._h, self._w, self._c, self._k
        Ho, Wo = H // K, W // K

        m.submodules.rows = rows = Memory(shape=unsigned(C), depth=Wo, init=[])
        rd, wr = rows.read_port(domain="comb"), rows.write_port()

        ix, iy = Signal(range(W)), Signal(range(H))
        dx, dy = Signal(range(K)), Signal(range(K))   # position inside the window
        ox = Signal(range(Wo))
        row_or = Signal(C)

        valid, payload, adv = buffered_output(m, self.o)
        put = Signal()
        m.d.comb += [self.i.ready.eq(adv), put.eq(self.i.valid & adv)]

        x = self.i.payload
        h = Signal(C)        # OR of this window row so far, including x
        v = Signal(C)        # OR of the window so far, including x
        inside = Signal()
        m.d.comb += [
            h.eq(Mux(dx == 0, x, row_or | x)),
            v.eq(Mux(dy == 0, h, rd.data | h)),
            inside.eq((ix < Wo * K) & (iy < Ho * K)),
            rd.addr.eq(ox),
            wr.addr.eq(ox),
            wr.data.eq(v),
            wr.en.eq(put & inside & (dx == K - 1) & (dy != K - 1)),
        ]
        with m.If(adv):
            m.d.sync += valid.eq(put & inside & (dx == K - 1) & (dy == K - 1))
            m.d.sync += payload.eq(v)
        with m.If(put):
            m.d.sync += row_or.eq(h)
            last_col = ix == W - 1
            m.d.sync += [
                ix.eq(Mux(last_col, 0, ix + 1)),
                dx.eq(Mux(last_col | (dx == K - 1), 0, dx + 1)),
            ]
            with m.If(dx == K - 1):
                m.d.sync += ox.eq(Mux(ox == Wo - 1, 0, ox + 1))
            with m.If(last_col):
                m.d.sync += [ox.eq(0), iy.eq(Mux(iy == H - 1, 0, iy + 1)),
                             dy.eq(Mux((iy == H - 1) | (dy == K - 1), 0, dy + 1))]
        return m
