"""The argmax of a whole vector of scores per cycle: a pipelined comparator tree.

For a stage that gives every score in one word each cycle (a gate network), where
:class:`~bnn_hw.hdl.ArgMaxHead`'s one score per cycle would be the bottleneck. Each tree level
compares pairs of (index, score) candidates and keeps the larger, the left one on a tie, so the
lowest index wins (``torch.argmax``); the comparisons and the selections each get a register level.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..compiler.microarch import index_width
from ._checks import require_positive_ints
from ._free_running import FreeRunningPipeline

__all__ = ["ArgMaxTree"]


class ArgMaxTree(wiring.Component):
    """Argmax and scores of ``classes`` signed scores, one vector per cycle.

    Lanes of the input word beyond ``classes`` (a producer with more output lanes than scores) are
    ignored.

    Attributes
    ----------
    i : In(stream.Signature(data.ArrayLayout(signed(score_width), lanes)))
    o : Out(stream.Signature(data.StructLayout({"index": unsigned(index_width(classes)),
            "scores": data.ArrayLayout(signed(score_width), classes)})))
        The same word as :class:`~bnn_hw.hdl.ArgMaxHead` gives.
    """

    def __init__(self, classes: int, lanes: int, score_width: int):
        require_positive_ints(classes=classes, lanes=lanes, score_width=score_width)
        if lanes < classes:
            raise ValueError(f"a comparator tree takes all {classes} scores in one word, not {lanes}")
        self._classes, self._lanes, self._score_width = classes, lanes, score_width
        scores = data.ArrayLayout(signed(score_width), classes)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(score_width), lanes))),
            "o": Out(stream.Signature(data.StructLayout({"index": unsigned(index_width(classes)),
                                                          "scores": scores}))),
        })

    def __repr__(self):
        return f"ArgMaxTree(classes={self._classes}, lanes={self._lanes}, score_width={self._score_width})"

    def elaborate(self, platform):
        m = Module()
        iw, sw = index_width(self._classes), self._score_width
        pipe = FreeRunningPipeline(m, self.i, self.o, "tree")
        scores = pipe.stage(self.i.payload.as_value()[:self._classes * sw], "scores0")
        candidates = [(Const(k, iw), scores[k * sw:(k + 1) * sw].as_signed()) for k in range(self._classes)]
        step, level = iw + sw, 0

        def unpack(held, count):
            base = len(scores)
            return [(held[base + j * step:base + j * step + iw], held[base + j * step + iw:base + (j + 1) * step].as_signed())
                    for j in range(count)]

        while len(candidates) > 1:
            # two register levels per comparison level: the comparisons (a carry chain each), then
            # the selections (in one cycle together they took 7 ns, over 150 MHz's 6.67 ns)
            pairs = [(candidates[j], candidates[j + 1]) for j in range(0, len(candidates) - 1, 2)]
            odd = candidates[len(pairs) * 2:]
            level += 1
            flat = [c for pair in pairs for c in pair] + odd
            held = pipe.stage(Cat(scores, *(Cat(i, s) for i, s in flat), *(b[1] > a[1] for a, b in pairs)),
                              f"compare{level}")
            scores = held[:len(scores)]
            flat = unpack(held, len(flat))
            right = held[len(scores) + len(flat) * step:]
            merged = [(Mux(right[j], flat[2 * j + 1][0], flat[2 * j][0]), Mux(right[j], flat[2 * j + 1][1], flat[2 * j][1]))
                      for j in range(len(pairs))] + flat[len(pairs) * 2:]
            held = pipe.stage(Cat(scores, *(Cat(i, s) for i, s in merged)), f"level{level}")
            scores = held[:len(scores)]
            candidates = unpack(held, len(merged))
        pipe.finish(Cat(candidates[0][0], scores))
        return m

