"""Non-overlapping window pooling of a channels-last image: OR pooling of bits (max-pool on +-1
values), sum pooling of fixed-point values (average pooling with the division left to the binary
point)."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ..intmath import ceil_div
from ._checks import require_positive_ints
from ._output import buffered_output
from .registry import builds

__all__ = ["OrPool", "SumPool"]


class _WindowPool(wiring.Component):
    """Non-overlapping ``kernel x kernel`` pooling (stride ``kernel``, PyTorch's floor mode) of a
    ``height x width`` image that arrives row by row as ``words`` words per pixel (``in_width``
    bits each); the pooled image leaves in the same order, ``out_width``-bit words. Rows and columns
    beyond the last whole window are consumed and dropped.

    One input word per cycle: a ``words``-word buffer combines the pixels along a window row, a
    buffer of ``width // kernel * words`` words (distributed RAM) the rows of a window. Subclasses
    say how: :meth:`widen` makes an output word of an input word, :meth:`combine` joins two output
    words. The output FIFO holds ``out_depth`` words (at least 3) besides its credit margin. ``i.ready`` depends only on
    registers. Subclasses record their arguments in ``_args`` first (the repr), then validate them.
    """

    _args: dict
    #: register a window row's partial result before the rows are combined, and read the row buffer
    #: a cycle ahead (two adders in one cycle, behind a LUT-RAM read each, held a sum pool at 91 MHz;
    #: the 224-word row buffer's asynchronous read, a multiplexer tree, then at 97 MHz)
    split: bool = False

    def __init__(self, height, width, kernel, words, in_width, out_width, out_depth=3):
        require_positive_ints(height=height, width=width, kernel=kernel, words=words)
        if kernel < 2 or kernel > min(height, width):
            raise ValueError(f"kernel must be at least 2 and fit the {height}x{width} image, not {kernel}")
        self._h, self._w, self._k, self._words, self._out_depth = height, width, kernel, words, out_depth
        super().__init__({
            "i": In(stream.Signature(unsigned(in_width))),
            "o": Out(stream.Signature(unsigned(out_width))),
        })

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._args.items())})"

    def widen(self, x):
        raise NotImplementedError

    def combine(self, a, b):
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        H, W, K, P = self._h, self._w, self._k, self._words
        Ho, Wo = H // K, W // K
        out_width = len(self.o.payload)

        # split: LUT RAM, its read registered (a block RAM's 5.8 ns clock-to-output before the adder
        # held a sum pool at 77 MHz)
        attrs = {"ram_style": "distributed"} if self.split else None
        m.submodules.rows = rows = Memory(shape=unsigned(out_width), depth=Wo * P, init=[], attrs=attrs)
        m.submodules.row = row = Memory(shape=unsigned(out_width), depth=P, init=[])
        rows_rd, rows_wr = rows.read_port(domain="sync" if self.split else "comb"), rows.write_port()
        row_rd, row_wr = row.read_port(domain="comb"), row.write_port()

        ix, iy = Signal(range(W)), Signal(range(H))
        dx, dy = Signal(range(K)), Signal(range(K))   # position inside the window
        word = Signal(range(P))                       # word of the pixel
        addr = Signal(range(Wo * P))                  # the window's word in the row buffer

        valid, payload, adv = buffered_output(m, self.o, depth=self._out_depth)
        put = Signal()
        m.d.comb += [self.i.ready.eq(adv), put.eq(self.i.valid & adv)]

        x = Signal(out_width)
        h = Signal(out_width)    # this window row so far, including x
        v = Signal(out_width)    # the window so far, including x
        inside, row_end = Signal(), Signal()
        m.d.comb += [
            x.eq(self.widen(self.i.payload)),
            h.eq(Mux(dx == 0, x, self.combine(row_rd.data, x))),
            inside.eq((ix < Wo * K) & (iy < Ho * K)),
            row_end.eq(dx == K - 1),
            row_rd.addr.eq(word), row_wr.addr.eq(word), row_wr.data.eq(h), row_wr.en.eq(put),
        ]
        # the rows are combined with h as it is, or (split) a cycle later with the row buffer's word
        # read in the cycle before: a window column's word is read and written once per image row
        # (width * words >= 2 cycles apart), so the read never misses a write
        window = Signal(data.StructLayout({"h": out_width, "put": 1, "first": 1, "last": 1, "end": 1,
                                           "addr": range(Wo * P)}))
        m.d.comb += window.eq(Cat(h, put, dy == 0, dy == K - 1, inside & row_end, addr))
        m.d.comb += rows_rd.addr.eq(addr)
        if self.split:
            m.d.comb += rows_rd.en.eq(adv)
            held = Signal.like(window)
            with m.If(adv):
                m.d.sync += held.eq(window)
            window = held
        m.d.comb += [
            v.eq(Mux(window.first, window.h, self.combine(rows_rd.data, window.h))),
            rows_wr.addr.eq(window.addr), rows_wr.data.eq(v),
            rows_wr.en.eq(adv & window.put & window.end & ~window.last),
        ]
        with m.If(adv):
            m.d.sync += valid.eq(window.put & window.end & window.last)
            m.d.sync += payload.eq(v)
        with m.If(put):
            pixel_end, last_col = word == P - 1, ix == W - 1
            m.d.sync += word.eq(Mux(pixel_end, 0, word + 1))
            with m.If(row_end | ~pixel_end):
                # the next word of this window's column of the row buffer, or of the next window's
                m.d.sync += addr.eq(Mux(addr == Wo * P - 1, 0, addr + 1))
            with m.Else():
                m.d.sync += addr.eq(addr - (P - 1))   # this pixel's words again for the next one
            with m.If(pixel_end):
                m.d.sync += [ix.eq(Mux(last_col, 0, ix + 1)), dx.eq(Mux(last_col | row_end, 0, dx + 1))]
                with m.If(last_col):
                    m.d.sync += [addr.eq(0), iy.eq(Mux(iy == H - 1, 0, iy + 1)),
                                 dy.eq(Mux((iy == H - 1) | (dy == K - 1), 0, dy + 1))]
        return m


class OrPool(_WindowPool):
    """``kernel x kernel`` OR pooling of a bit image (max-pool on +-1 values): one ``channels``-bit
    word per pixel in and out; output pixel ``(oy, ox)`` is the OR of input pixels
    ``(oy * kernel + dy, ox * kernel + dx)``. See :class:`_WindowPool` for the stream and timing.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(channels)))
    o : Out(stream.Signature(unsigned(channels)))
    """

    def __init__(self, height, width, channels, kernel):
        self._args = dict(height=height, width=width, channels=channels, kernel=kernel)
        require_positive_ints(channels=channels)
        super().__init__(height, width, kernel, 1, channels, channels)

    def widen(self, x):
        return x

    def combine(self, a, b):
        return a | b


class SumPool(_WindowPool):
    """``kernel x kernel`` sum pooling of signed fixed-point values (average pooling without the
    division: the sum of ``kernel**2`` values on a grid is their mean on a grid ``kernel**2`` times
    finer, for ``kernel`` a power of two ``log2(kernel**2)`` more fraction bits).

    A pixel's ``channels`` values arrive as ``words = ceil(channels / lanes)`` words of ``lanes``
    signed ``width``-bit values (lane ``l`` of word ``w`` is channel ``w * lanes + l``) and leave in
    the same order as ``out_width``-bit sums, ``out_width = width + bit_length(kernel**2 - 1)``, so
    they never overflow. See :class:`_WindowPool` for the stream and timing. A pooled row leaves
    while the window's last input row arrives and none while the others do, so the output FIFO holds
    a whole pooled row (:attr:`out_depth` words): a consumer that keeps up on average, such as a 1x1
    convolution folded to the frame rate, never holds the pool back. A window row's partial sums
    are registered before the rows are added (:attr:`_WindowPool.split`).

    Attributes
    ----------
    i : In(stream.Signature(unsigned(lanes * width)))
    o : Out(stream.Signature(unsigned(lanes * out_width)))
    """

    split = True

    def __init__(self, height, width, channels, kernel, lanes, value_width):
        self._args = dict(height=height, width=width, channels=channels, kernel=kernel, lanes=lanes,
                          value_width=value_width)
        require_positive_ints(channels=channels, lanes=lanes, value_width=value_width, kernel=kernel)
        self._lanes, self._vw = lanes, value_width
        self.out_width = value_width + (kernel * kernel - 1).bit_length()
        words = ceil_div(channels, lanes)
        self.out_depth = max(3, width // kernel * words)
        super().__init__(height, width, kernel, words, lanes * value_width, lanes * self.out_width,
                         self.out_depth)

    def _lanes_of(self, word, width):
        return [word[l * width:(l + 1) * width].as_signed() for l in range(self._lanes)]

    def widen(self, x):
        return Cat(_sign_extend(v, self.out_width) for v in self._lanes_of(x, self._vw))

    def combine(self, a, b):
        return Cat((x + y)[:self.out_width] for x, y in zip(self._lanes_of(a, self.out_width),
                                                             self._lanes_of(b, self.out_width)))


def _sign_extend(value, width):
    """A signed value as ``width`` bits."""
    return Cat(value, *([value[-1]] * (width - len(value))))


@builds(ops.MaxPool)
def _max_pool(op, in_type, fold):
    return OrPool(*in_type.shape, kernel=op.kernel)


@builds(ops.AvgPool)
def _avg_pool(op, in_type, fold):
    return SumPool(*in_type.shape, kernel=op.kernel, lanes=fold.pe, value_width=in_type.width)
