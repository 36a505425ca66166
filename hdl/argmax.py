"""Classification head: the index of the highest score."""

from amaranth.hdl import Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ._checks import require_positive_ints
from .repack import Repack

__all__ = ["ArgMaxHead", "index_width", "scan_lanes"]

#: The most scores the head compares per cycle: a tree over more lanes is a long chain of signed
#: comparisons and multiplexers (10 lanes of 12-bit scores held LFC's clock at 39 MHz).
MAX_SCAN_LANES = 2


def index_width(classes: int) -> int:
    """Bits of a class index among ``classes``."""
    return max(1, (classes - 1).bit_length())


def scan_lanes(lanes: int) -> int:
    """Scores compared per cycle for input words of ``lanes`` scores: all of them up to
    :data:`MAX_SCAN_LANES`, else the most up to that which divides ``lanes`` (so a gearbox only
    sends slices of each word)."""
    if lanes <= MAX_SCAN_LANES:
        return lanes
    return max(n for n in range(1, MAX_SCAN_LANES + 1) if lanes % n == 0)


class ArgMaxHead(wiring.Component):
    """Collect a vector of ``classes`` signed scores and output its argmax and the scores.

    The scores arrive as ``ceil(classes / lanes)`` words of ``lanes`` scores (class
    ``w * lanes + l`` is lane ``l`` of word ``w``); lanes beyond ``classes`` in the last word are
    ignored. For every vector one output word is produced, carrying ``index``, the position of
    the maximum score with ties going to the lowest index (``torch.argmax`` semantics), and
    ``scores``, all the scores in class order.

    The running maximum is updated as scores arrive, :func:`scan_lanes` of them per cycle (a
    comparator tree across those lanes, then one comparison with the maximum so far); wider input
    words are first cut into such slices by a :class:`~bnn_hw.hdl.Repack`. The result is registered
    one cycle after the last slice. Takes ``ceil(classes / scan_lanes(lanes))`` cycles per vector.

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
        return -(-self._classes // self._lanes)

    def __repr__(self):
        return (f"ArgMaxHead(classes={self._classes}, lanes={self._lanes}, "
                f"score_width={self._score_width})")

    def elaborate(self, platform):
        m = Module()

        sw, iw = self._score_width, self.index_width
        lanes = scan_lanes(self._lanes)
        words = -(-self._classes // lanes)
        last_lanes = self._classes - (words - 1) * lanes
        source = self.i
        if lanes < self._lanes:
            m.submodules.slices = slices = Repack(self._classes * sw, self._lanes * sw, lanes * sw)
            # a registered 2-word buffer: the slice multiplexer does not feed the comparators directly
            m.submodules.slice_buffer = buffer = SyncFIFOBuffered(width=lanes * sw, depth=2)
            m.d.comb += [
                slices.i.valid.eq(self.i.valid),
                slices.i.payload.eq(Value.cast(self.i.payload)),
                self.i.ready.eq(slices.i.ready),
            ]
            wiring.connect(m, slices.o, buffer.w_stream)
            source = _Slices(buffer.r_stream, data.ArrayLayout(signed(sw), lanes))

        def best_of(candidates):
            # candidates: list of (value, index) in increasing index order; on a tie the
            # left (lower index) candidate wins.
            while len(candidates) > 1:
                merged = []
                for k in range(0, len(candidates) - 1, 2):
                    (va, ia), (vb, ib) = candidates[k], candidates[k + 1]
                    pick_b = vb > va
                    merged.append((Mux(pick_b, vb, va), Mux(pick_b, ib, ia)))
                if len(candidates) % 2:
                    merged.append(candidates[-1])
                candidates = merged
            return candidates[0]

        count = Signal(range(words))
        first_index = Signal(iw)  # count * lanes, kept as a counter (no multiplier)
        last = Signal()
        m.d.comb += last.eq(count == words - 1)

        lane_values = [source.payload[l] for l in range(lanes)]
        full_val, full_idx = best_of([(lane_values[l], l) for l in range(lanes)])
        tail_val, tail_idx = best_of([(lane_values[l], l) for l in range(last_lanes)])
        word_val = Signal(signed(sw))
        word_idx = Signal(range(lanes))
        m.d.comb += [
            word_val.eq(Mux(last, tail_val, full_val)),
            word_idx.eq(Mux(last, tail_idx, full_idx)),
        ]
        word_global = Signal(iw)
        m.d.comb += word_global.eq(first_index + word_idx)

        best_val = Signal(signed(sw))
        best_idx = Signal(iw)
        new_val = Signal(signed(sw))
        new_idx = Signal(iw)
        take_word = Signal()
        m.d.comb += [
            # earlier words hold lower indices, so a later word must be strictly greater
            take_word.eq((count == 0) | (word_val > best_val)),
            new_val.eq(Mux(take_word, word_val, best_val)),
            new_idx.eq(Mux(take_word, word_global, best_idx)),
        ]

        # scores of the words before the last, shifted in word by word
        held = [Signal(data.ArrayLayout(signed(sw), lanes), name=f"held{w}")
                for w in range(words - 1)]

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
            m.d.sync += count.eq(Mux(last, 0, count + 1))
            m.d.sync += first_index.eq(Mux(last, 0, first_index + lanes))
            with m.If(last):
                scores = [held[w][l] for w in range(words - 1) for l in range(lanes)]
                scores += lane_values[:last_lanes]
                m.d.sync += [
                    self.o.payload.index.eq(new_idx),
                    self.o.payload.scores.eq(Cat(scores)),
                ]
            with m.Else():
                m.d.sync += [best_val.eq(new_val), best_idx.eq(new_idx)]
                for w in range(words - 1):
                    nxt = held[w + 1] if w + 1 < words - 1 else source.payload
                    m.d.sync += held[w].eq(nxt)
        return m


class _Slices:
    """A Repack's output stream with its payload viewed as lanes of scores."""

    def __init__(self, stream_, layout):
        self.valid, self.ready = stream_.valid, stream_.ready
        self.payload = data.View(layout, stream_.payload)
