"""Logic shortcuts (BoolNet): a stream forked around a body of stages and joined bitwise again."""

import operator

from amaranth.hdl import Cat, Module, Mux, Signal, Value, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..compiler import ops
# the bitwise joins are the op's (the model's logic shortcuts)
from ..compiler.ops.logic_join import JOIN_OPS
from ._arith import signed_lanes
from ._checks import require_positive_ints
from ._output import buffered_output
from .chain import payload_width
from .registry import builds

__all__ = ["Fork", "StreamRegister", "LogicJoin", "ConcatJoin", "LaneJoin", "AddJoin", "ForkJoin"]


class Fork(wiring.Component):
    """Copy every word of ``i`` to both ``a`` and ``b``.

    Each output takes the word in its own time (an eager fork): a word offered on both leaves ``i``
    once both have taken it, and a side that has taken it is not offered it again. ``i.ready``
    depends combinationally on both outputs' ready.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(width)))
    a, b : Out(stream.Signature(unsigned(width)))
    """

    def __init__(self, width):
        self._width = width   # recorded first, so that __repr__ works if validation fails
        require_positive_ints(width=width)
        super().__init__({
            "i": In(stream.Signature(unsigned(width))),
            "a": Out(stream.Signature(unsigned(width))),
            "b": Out(stream.Signature(unsigned(width))),
        })

    def __repr__(self):
        return f"Fork(width={self._width})"

    def elaborate(self, platform):
        m = Module()
        sides = (self.a, self.b)
        taken = [Signal(name=f"taken_{name}") for name in "ab"]
        done = [t | side.ready for t, side in zip(taken, sides)]
        m.d.comb += self.i.ready.eq(done[0] & done[1])
        for t, side in zip(taken, sides):
            m.d.comb += [side.valid.eq(self.i.valid & ~t), side.payload.eq(self.i.payload)]
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += t.eq(0)
            with m.Elif(side.valid & side.ready):
                m.d.sync += t.eq(1)
        return m


class StreamRegister(wiring.Component):
    """A one-word stream register: ``o`` gives the words of ``i`` one cycle later, one per cycle.

    The payload register loads ``i.payload`` directly (the load is its clock enable) and has no
    reset, so a word from a block RAM meets no logic before it (on the ECP5, the register moves into
    the block RAM: :mod:`bnn_hw.boards.ecp5_outreg`); ``i.ready`` is ``o.ready`` or an empty register.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(width)))
    o : Out(stream.Signature(unsigned(width)))
    """

    def __init__(self, width):
        self._width = width   # recorded first, so that __repr__ works if validation fails
        require_positive_ints(width=width)
        super().__init__({
            "i": In(stream.Signature(unsigned(width))),
            "o": Out(stream.Signature(unsigned(width))),
        })

    def __repr__(self):
        return f"StreamRegister(width={self._width})"

    def elaborate(self, platform):
        m = Module()
        payload = Signal(self._width, reset_less=True)   # data: o.valid has the reset
        m.d.comb += [self.i.ready.eq(~self.o.valid | self.o.ready), self.o.payload.eq(payload)]
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += payload.eq(self.i.payload)
        return m


class _Join(wiring.Component):
    """Two streams in (``a`` of ``a_width`` bits, ``b`` of ``b_width``), their words combined pairwise
    in order into ``o``; one pair per cycle. A pair is registered as it is taken and combined into
    the registered output (an output FIFO) a cycle later, so neither input's ready depends on
    ``o.ready`` and a word read from a FIFO's block RAM (5.8 ns clock-to-output on the ECP5) meets
    no logic before a register."""

    def __init__(self, a_width, b_width, o_width, words=1):
        require_positive_ints(a_width=a_width, b_width=b_width, words=words)
        self._words = words
        super().__init__({
            "a": In(stream.Signature(unsigned(a_width))),
            "b": In(stream.Signature(unsigned(b_width))),
            "o": Out(stream.Signature(unsigned(o_width))),
        })

    #: pipeline stages ``combine`` puts between the registered pair and the output (with ``register``)
    extra_stages = 0

    def combine(self, a, b, word, register):
        """The output word of the registered pair ``a``, ``b``; ``word`` is its index within its vector
        (of ``words`` words; None for one word per vector). ``register(value)`` gives ``value`` a
        cycle later, a pipeline register moving with the stream; a join that goes through ``k`` of
        them in a row sets :attr:`extra_stages` to ``k``."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        valid, payload, adv = buffered_output(m, self.o)
        both, taken = Signal(), Signal()
        a, b = Signal.like(self.a.payload, reset_less=True), Signal.like(self.b.payload, reset_less=True)
        m.d.comb += [both.eq(self.a.valid & self.b.valid),
                     self.a.ready.eq(adv & both), self.b.ready.eq(adv & both)]
        word = None
        if self._words > 1:   # the registered pair's word of its vector, and the next pair's
            word, upcoming = Signal(range(self._words)), Signal(range(self._words))
            with m.If(adv):
                m.d.sync += word.eq(upcoming)
            with m.If(adv & both):
                m.d.sync += upcoming.eq(Mux(upcoming == self._words - 1, 0, upcoming + 1))

        def register(value):
            held = Signal(Value.cast(value).shape(), reset_less=True)
            with m.If(adv):
                m.d.sync += held.eq(value)
            return held

        pair_valid = taken
        for _ in range(self.extra_stages):
            staged = Signal()
            with m.If(adv):
                m.d.sync += staged.eq(pair_valid)
            pair_valid = staged
        with m.If(adv):
            m.d.sync += [taken.eq(both), a.eq(self.a.payload), b.eq(self.b.payload),
                         valid.eq(pair_valid), payload.eq(self.combine(a, b, word, register))]
        return m


class LogicJoin(_Join):
    """Bitwise ``op`` (``"xnor"`` or ``"or"``) of the words of ``a`` and ``b``, pairwise in order.

    Attributes
    ----------
    a, b : In(stream.Signature(unsigned(width)))
    o : Out(stream.Signature(unsigned(width)))
    """

    def __init__(self, width, op):
        self._width, self._op = width, op   # recorded first, so that __repr__ works if validation fails
        if op not in JOIN_OPS:
            raise ValueError(f"op must be one of {JOIN_OPS}, not {op!r}")
        super().__init__(width, width, width)

    def __repr__(self):
        return f"LogicJoin(width={self._width}, op={self._op!r})"

    def combine(self, a, b, word, register):
        return ~(a ^ b) if self._op == "xnor" else a | b


class ConcatJoin(_Join):
    """The words of ``b`` (low bits) and ``a`` (high bits) side by side, pairwise in order. With
    ``values=(a_values, b_values)`` the words are vectors of that many signed values each, and every
    value is sign-extended to the wider side's width.

    Attributes
    ----------
    a : In(stream.Signature(unsigned(a_width)))
    b : In(stream.Signature(unsigned(b_width)))
    o : Out(stream.Signature(unsigned(a_width + b_width)), or as many values of the wider width)
    """

    def __init__(self, a_width, b_width, values=None):
        self._widths, self._values = (a_width, b_width), values
        if values is None:
            super().__init__(a_width, b_width, a_width + b_width)
            return
        require_positive_ints(a_values=values[0], b_values=values[1])
        if a_width % values[0] or b_width % values[1]:
            raise ValueError(f"{values} values do not divide words of {a_width} and {b_width} bits")
        self._value_width = max(a_width // values[0], b_width // values[1])
        super().__init__(a_width, b_width, self._value_width * sum(values))

    def __repr__(self):
        more = "" if self._values is None else f", values={self._values}"
        return f"ConcatJoin(a_width={self._widths[0]}, b_width={self._widths[1]}{more})"

    def combine(self, a, b, word, register):
        if self._values is None:
            return Cat(b, a)
        parts = []
        for side, count in ((b, self._values[1]), (a, self._values[0])):
            width = len(side) // count
            for k in range(count):
                value = side[k * width:(k + 1) * width]
                parts.append(Cat(value, *[value[-1]] * (self._value_width - width)))   # sign-extended
        return Cat(*parts)


class LaneJoin(_Join):
    """A join of ``lanes`` signed values per word on each input (``a_width`` and ``b_width`` bits),
    combined lane by lane into ``lanes`` results of ``o_width`` bits (wrapping: the compiler makes it
    wide enough); subclasses say how: a :attr:`lane_operation` of two values, or their own
    :meth:`combine` (with :meth:`lane_pairs` and :meth:`results`).

    Attributes
    ----------
    a : In(stream.Signature(unsigned(lanes * a_width)))
    b : In(stream.Signature(unsigned(lanes * b_width)))
    o : Out(stream.Signature(unsigned(lanes * o_width)))
    """

    def __init__(self, lanes, a_width, b_width, o_width, words=1):
        self._lanes, self._widths = lanes, (a_width, b_width, o_width)
        require_positive_ints(lanes=lanes, a_width=a_width, b_width=b_width, o_width=o_width)
        super().__init__(lanes * a_width, lanes * b_width, lanes * o_width, words)

    def __repr__(self):
        a, b, o = self._widths
        return f"{type(self).__name__}(lanes={self._lanes}, a_width={a}, b_width={b}, o_width={o})"

    #: each lane's result from its ``(a, b)`` signed values, for joins that need nothing else
    lane_operation = None

    def combine(self, a, b, word, register):
        return self.results(self.lane_operation(x, y) for x, y in self.lane_pairs(a, b))

    def lane_pairs(self, a, b):
        """The ``(a, b)`` signed values of each lane."""
        wa, wb, _ = self._widths
        return list(zip(signed_lanes(a, wa, self._lanes), signed_lanes(b, wb, self._lanes)))

    def results(self, values):
        """The output word of the lanes' ``values``."""
        return Cat(v[:self._widths[2]] for v in values)


class AddJoin(LaneJoin):
    """``lanes`` signed additions: lane ``l`` of ``o`` (``o_width`` bits, wrapping) is lane ``l`` of
    ``a`` (``a_width`` bits) plus lane ``l`` of ``b`` (``b_width`` bits), pairwise in order (Bi-Real's
    real-valued shortcut on fixed-point values; the compiler makes ``o_width`` wide enough). Ports as
    :class:`LaneJoin`'s.
    """

    lane_operation = operator.add


class ForkJoin(wiring.Component):
    """A shortcut around ``body``: ``o = join(body(i), i)`` word by word (a :class:`LogicJoin`,
    :class:`ConcatJoin`, :class:`AddJoin`, or a join of :mod:`.fixed_join`).

    ``i`` is forked (:class:`Fork`) into ``body`` and into the shortcut, ``depth`` words of buffering
    (a FIFO of ``depth - 1`` words, then a :class:`StreamRegister`, so the route from a block RAM
    to the join is split in two cycles), whose words meet the body's results in ``join`` (port ``a``
    the body's, ``b`` the shortcut's).
    The body may need several input words before it gives its first result (a convolution's window
    generator: about two image rows); the shortcut FIFO must hold them all, or the fork waits for
    the FIFO, the body for the fork and the join for the body. The compiler computes ``depth`` from
    the body's stages (:func:`bnn_hw.compiler.blocks.shortcut_depth`).

    With a ``branch`` the shortcut computes (Bi-Real's downsampling shortcut): the fork feeds it, and
    the buffering after it holds its results, ``o = join(body(i), branch(i))``.

    Parameters
    ----------
    body : wiring.Component with ports ``i`` (as wide as the join's ``b``, or the branch's ``i``)
        and ``o`` (as the join's ``a``)
    join : wiring.Component with ports ``a``, ``b``, ``o``
    depth : int, positive
    branch : wiring.Component with ports ``i`` (as the body's) and ``o`` (as the join's ``b``), or None

    Attributes
    ----------
    i : In(stream.Signature(unsigned(width)))
    o : the join's ``o``
    """

    def __init__(self, body, join, depth, branch=None):
        # recorded first, so that __repr__ works if validation fails
        self._body, self._join, self._depth, self._branch = body, join, depth, branch
        require_positive_ints(depth=depth)
        if branch is not None and payload_width(branch, "i") != payload_width(body, "i"):
            raise ValueError(f"the branch must take the body's {payload_width(body, 'i')}-bit words, not "
                             f"{payload_width(branch, 'i')}-bit ones")
        shortcut_bits = payload_width(body, "i") if branch is None else payload_width(branch, "o")
        if shortcut_bits != payload_width(join, "b") or payload_width(body, "o") != payload_width(join, "a"):
            raise ValueError(f"the join takes {payload_width(join, 'a')}-bit words from the body and "
                             f"{payload_width(join, 'b')}-bit ones from the shortcut, not "
                             f"{payload_width(body, 'o')} and {shortcut_bits}")
        self._width = payload_width(body, "i")
        self._shortcut_width = payload_width(join, "b")
        super().__init__({
            "i": In(stream.Signature(unsigned(self._width))),
            "o": join.signature.members["o"],
        })

    @property
    def depth(self):
        return self._depth

    @property
    def body(self):
        """The component on the computed branch."""
        return self._body

    def __repr__(self):
        branch = "" if self._branch is None else f", branch={self._branch!r}"
        return f"ForkJoin(body={self._body!r}, join={self._join!r}, depth={self._depth}{branch})"

    def elaborate(self, platform):
        m = Module()
        m.submodules.fork = fork = Fork(self._width)
        m.submodules.body = self._body
        m.submodules.shortcut_out = shortcut_out = StreamRegister(self._shortcut_width)
        m.submodules.join = self._join
        wiring.connect(m, wiring.flipped(self.i), fork.i)
        wiring.connect(m, fork.a, self._body.i)
        shortcut_in = fork.b
        if self._branch is not None:
            m.submodules.branch = self._branch
            wiring.connect(m, fork.b, self._branch.i)
            shortcut_in = self._branch.o
        if self._depth == 1:
            wiring.connect(m, shortcut_in, shortcut_out.i)
        else:
            m.submodules.shortcut = shortcut = SyncFIFOBuffered(width=self._shortcut_width, depth=self._depth - 1)
            wiring.connect(m, shortcut_in, shortcut.w_stream)
            wiring.connect(m, shortcut.r_stream, shortcut_out.i)
        wiring.connect(m, self._body.o, self._join.a)
        wiring.connect(m, shortcut_out.o, self._join.b)
        wiring.connect(m, self._join.o, wiring.flipped(self.o))
        return m


@builds(ops.LogicJoin)
def _logic_join(op, body_bits, shortcut_bits, fold):
    return LogicJoin(body_bits, op.mode)


@builds(ops.Concat)
def _concat(op, body_bits, shortcut_bits, fold):
    values = None if op.body_channels is None else (op.body_channels, op.shortcut_channels)
    return ConcatJoin(body_bits, shortcut_bits, values)


@builds(ops.Add)
def _add(op, body_bits, shortcut_bits, fold):
    """``fold.pe`` adders of the body's and the shortcut's values."""
    a, b = body_bits // fold.pe, shortcut_bits // fold.pe
    return AddJoin(fold.pe, a, b, max(a, b) + 1)
