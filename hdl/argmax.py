"""Classification head: the index of the highest score."""

from amaranth.hdl import Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..compiler import ops
# the result word's layout is the compiler's (bnn_hw.compiler.io_layout)
from ..compiler.microarch import index_width
from ..intmath import ceil_div
from ._checks import require_positive_ints
from .argmax_tree import ArgMaxTree
from .registry import builds
from .repack import Repack

__all__ = ["ArgMaxHead"]


class ArgMaxHead(wiring.Component):
    """Collect a vector of ``classes`` signed scores and output its argmax and the scores.

    The scores arrive as ``ceil(classes / lanes)`` words of ``lanes`` scores (class
    ``w * lanes + l`` is lane ``l`` of word ``w``); lanes beyond ``classes`` in the last word are
    ignored. For every vector one output word is produced, carrying ``index``, the position of
    the maximum score with ties going to the lowest index (``torch.argmax`` semantics), and
    ``scores``, all the scores in class order.

    The running maximum is updated as scores arrive, one score per cycle: one signed comparison
    with the maximum so far. Input words of more than one score are first cut into single scores by
    a :class:`~bnn_hw.hdl.Repack` and a registered 2-word buffer. (A comparator tree over 10 lanes
    held the LFC benchmark at 39 MHz and over 2 lanes at 70.6 MHz; one score per cycle costs
    ``classes`` cycles per vector, far below any matrix layer's.) The result is registered one
    cycle after the last score.

    Parameters
    ----------
    classes : int
        Scores per vector, at least 1.
    lanes : int
        Scores per input word, at least 1.
    score_width : int
        Width of a signed score, at least 1.

    Attributes
    ----------
    i : In(stream.Signature(data.ArrayLayout(signed(score_width), lanes)))
    o : Out(stream.Signature(data.StructLayout({
            "index": unsigned(max(1, (classes - 1).bit_length())),
            "scores": data.ArrayLayout(signed(score_width), classes)})))
    """

    def __init__(self, classes, lanes, score_width):
        self._classes = classes
        self._lanes = lanes
        self._score_width = score_width
        require_positive_ints(classes=classes, lanes=lanes, score_width=score_width)
        score = signed(score_width)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(score, lanes))),
            "o": Out(stream.Signature(data.StructLayout({
                "index": unsigned(self.index_width),
                "scores": data.ArrayLayout(score, classes),
            }))),
        })

    @property
    def classes(self):
        return self._classes

    @property
    def lanes(self):
        return self._lanes

    @property
    def score_width(self):
        return self._score_width

    @property
    def index_width(self):
        return index_width(self._classes)

    @property
    def words(self):
        """Input words per vector."""
        return ceil_div(self._classes, self._lanes)

    def __repr__(self):
        return (f"ArgMaxHead(classes={self._classes}, lanes={self._lanes}, "
                f"score_width={self._score_width})")

    def elaborate(self, platform):
        m = Module()

        sw, iw, classes = self._score_width, self.index_width, self._classes
        source = self.i
        if self._lanes > 1:
            m.submodules.slices = slices = Repack(classes * sw, self._lanes * sw, sw)
            # a registered buffer, so the slice multiplexer does not feed the comparator directly; 3
            # words (an inner FIFO of 2 and the output register) take a word in the cycle they give
            # one: with 2 it took a score every other cycle (tests/test_sim_runner.py, argmax-bound)
            m.submodules.slice_buffer = buffer = SyncFIFOBuffered(width=sw, depth=3)
            m.d.comb += [
                slices.i.valid.eq(self.i.valid),
                slices.i.payload.eq(Value.cast(self.i.payload)),
                self.i.ready.eq(slices.i.ready),
            ]
            wiring.connect(m, slices.o, buffer.w_stream)
            source = _Slices(buffer.r_stream, data.ArrayLayout(signed(sw), 1))
        score = source.payload[0]

        index = Signal(range(classes))
        last = Signal()
        m.d.comb += last.eq(index == classes - 1)

        best_val = Signal(signed(sw))
        best_idx = Signal(iw)
        take = Signal()
        # earlier scores have lower indices, so a later one must be strictly greater
        m.d.comb += take.eq((index == 0) | (score > best_val))

        # the scores before the last, shifted in one by one
        held = [Signal(signed(sw), name=f"held{k}") for k in range(classes - 1)]

        adv = Signal()
        m.d.comb += [
            adv.eq(~self.o.valid | self.o.ready),
            source.ready.eq(adv),
        ]
        put = Signal()
        m.d.comb += put.eq(source.valid & adv)

        with m.If(adv):
            m.d.sync += self.o.valid.eq(source.valid & last)
        with m.If(put):
            m.d.sync += index.eq(Mux(last, 0, index + 1))
            with m.If(last):
                m.d.sync += [
                    self.o.payload.index.eq(Mux(take, index, best_idx)),
                    self.o.payload.scores.eq(Cat(*held, score)),
                ]
            with m.Else():
                with m.If(take):
                    m.d.sync += [best_val.eq(score), best_idx.eq(index)]
                for k in range(classes - 1):
                    m.d.sync += held[k].eq(held[k + 1] if k + 1 < classes - 1 else score)
        return m


class _Slices:
    """A Repack's output stream with its payload viewed as lanes of scores."""

    def __init__(self, stream_, layout):
        self.valid, self.ready = stream_.valid, stream_.ready
        self.payload = data.View(layout, stream_.payload)


@builds(ops.ArgMax)
def _argmax(op, in_type, fold):
    if op.is_tree(in_type, fold):
        return ArgMaxTree(in_type.size, fold.simd, in_type.width)
    return ArgMaxHead(in_type.size, fold.simd, in_type.width)
