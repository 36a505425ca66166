"""Matrix-vector unit: XNOR-popcount for binary layers, multiply-accumulate for multi-bit inputs.

:class:`MatrixVectorUnit` is the skeleton both kinds share: the double-buffered input vector store,
the banked weight ROM, the counters that walk a vector's words, the accumulators and the threshold
compare or scores, behind a registered output. The lanes' dot products of an input word with a
weight word come from one of two datapaths: :class:`~bnn_hw.hdl.mvu_popcount.PopcountDatapath`
(binary elements) or :class:`~bnn_hw.hdl.mvu_mac.MacDatapath` (multi-bit elements), on the pipeline
and slice sums of :mod:`bnn_hw.hdl.mvu_datapath`.
"""

from typing import NamedTuple

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..compiler import ops
# the ROM banking is the compiler's plan, which its cost model counts
from ..compiler.microarch import rom_bank_depth
from ..intmath import ceil_div
from ._checks import require_positive_ints
from ._output import buffered_output
from .mvu_datapath import Pipeline
from .mvu_mac import MacDatapath, ProductDatapath
from .mvu_popcount import PopcountDatapath
from .mvu_sparse import SparseDatapath
from .registry import builds

__all__ = ["BipolarMac", "MatrixVectorUnit"]


def _shape_of(array):
    try:
        return tuple(int(n) for n in np.shape(array))
    except Exception:
        return ("?",)


def _weight_array(weights, weight_bits):
    """``weights`` checked and as a 3-D array (sets, M, N): uint8 bits, or int64 ``weight_bits``-bit
    two's complement integers."""
    weights = np.asarray(weights)
    if weights.ndim == 2:
        weights = weights[None]
    if weights.ndim != 3 or min(weights.shape) < 1:
        raise ValueError(f"weights must be a non-empty 2-D array (M, N) or 3-D (sets, M, N), "
                         f"not of shape {weights.shape}")
    if weight_bits == 1 and not np.all((weights == 0) | (weights == 1)):
        raise ValueError("weights must contain only 0 and 1 (bit 1 is +1)")
    w_lo, w_hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    if weight_bits > 1 and not (np.all(weights == np.round(weights)) and w_lo <= weights.min()
                                and weights.max() <= w_hi):
        raise ValueError(f"{weight_bits}-bit weights must be integers in {w_lo}..{w_hi}")
    return weights.astype(np.uint8 if weight_bits == 1 else np.int64)


def _threshold_tables(thresholds, M, ordered=True):
    """``thresholds`` checked and as a 3-D int64 array (classes, M, K), rows sorted ascending where
    ``ordered`` (a sparse unit's inverted channels have theirs descending)."""
    try:
        tarr = np.asarray(thresholds)
        if tarr.dtype.kind not in "iu" and not (tarr.dtype.kind == "f" and np.all(tarr == np.round(tarr))):
            raise TypeError
        tarr = tarr.astype(np.int64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("thresholds must be an integer array of shape (M, K) or None")
    if tarr.ndim == 2:
        tarr = tarr[None]
    if tarr.ndim != 3 or tarr.shape[0] < 1 or tarr.shape[1] != M or tarr.shape[2] < 1:
        raise ValueError(f"thresholds must have shape ({M}, K) or (classes, {M}, K) with K >= 1, "
                         f"not {tarr.shape}")
    if ordered and np.any(np.diff(tarr, axis=2) < 0):
        raise ValueError("each row of thresholds must be sorted ascending")
    return tarr


def _class_schedule(schedule, classes):
    """The threshold class of each vector, as a tuple; None where one table serves every vector."""
    if schedule is None and classes == 1:
        return None
    sched = np.asarray(schedule if schedule is not None else [], dtype=np.int64).reshape(-1)
    if sched.size == 0 or sched.min() < 0 or sched.max() >= classes:
        raise ValueError(f"with {classes} threshold classes, schedule must be a non-empty "
                         f"sequence of class indices 0..{classes - 1}")
    return tuple(int(c) for c in sched)


class _InputBuffer(NamedTuple):
    """The double-buffered input vector store as its reader sees it."""

    port: object        #: the memory's read port
    full: Value         #: per half: holds a complete vector not yet consumed
    bank: Value         #: the half being read
    filled: Value       #: a half's bit set by the writer as its vector completes (combinational)
    release: Value      #: a half's bit for the reader to set when it is consumed (combinational)


class _WeightRom(NamedTuple):
    """The banked weight ROM: its read ports, the bank and the word in it being read."""

    ports: list         #: one read port per bank
    bank: Value
    address: Value
    bank_depth: int     #: words per bank
    last_bank_words: int


class _Position(NamedTuple):
    """Where stage 0 is: the word ``sf`` of the vector and its output word ``nf``."""

    active: Value       #: a complete vector is there to read
    step: Value         #: the pipeline advances with a word read (``adv & active``)
    first: Value        #: ``sf`` is the vector's first word
    last: Value         #: ``sf`` is the vector's last word
    nf: Value           #: the output word being computed


class MatrixVectorUnit(wiring.Component):
    """Binary matrix-vector product with optional multi-threshold activation.

    For every input vector ``x`` of ``N`` bits the unit computes, for each of the ``M`` output
    channels, ``p[m] = popcount(xnor(x, weights[m]))`` over the ``N`` real bits (bit 1 is +1,
    bit 0 is -1, so the binary dot product is ``2 * p[m] - N``).

    With ``element_width`` ``E > 1`` the elements of ``x`` are ``E``-bit integers (unsigned pixels,
    or two's complement with ``signed_elements``) and the unit computes the dot products
    ``d[m] = sum_n w[m, n] * x[n]`` instead, ``p[m] = d[m]``: with ``weight_bits=1`` the weights are
    +-1 (bit 1 is +1), with ``weight_bits=B > 1`` they are ``B``-bit two's complement integers,
    multiplied as ``B`` bit planes (masked sums, shifted and added).

    Folding: ``pe`` output lanes by ``simd`` input lanes. The input vector arrives as
    ``SF = ceil(N / simd)`` words of ``simd`` bits (bit ``n`` is bit ``n % simd`` of word
    ``n // simd``). The padding bits of the last input word are masked on the way into the
    input buffer, so their value does not matter. The result leaves as ``NF = ceil(M / pe)``
    words, word ``nf`` holding channels ``nf * pe .. nf * pe + pe - 1``:

    * with ``thresholds`` (shape ``(M, K)``): payload ``unsigned(pe * K)``; bit ``l * K + j`` of
      word ``nf`` is ``p[nf * pe + l] >= thresholds[nf * pe + l, j]``;
    * without (the score layer): payload ``data.ArrayLayout(signed(w), pe)`` with lane ``l`` equal
      to ``2 * p[nf * pe + l] - N``; ``w`` is the minimal signed width holding ``-N..N``.

    Lanes beyond ``M`` in the last output word are 0.

    Structure: the input vector is written into a double-buffered (ping-pong, ``2 * SF`` words)
    input buffer memory; once a vector is complete it is re-read ``NF`` times while the next one is
    written into the other half. Each cycle one input word and one ``pe * simd``-bit weight word
    (ROM address ``nf * SF + sf``) are read; ``pe`` popcounts are accumulated over ``SF``
    cycles, then thresholded (thresholds, clipped to ``0..N+1``, are in a ROM of ``NF`` words).

    Timing: in steady state one vector takes ``NF * SF`` cycles (one weight word per cycle, no
    bubble between output words or between vectors) provided the producer delivers the next vector
    (``SF`` words) in that time and the consumer takes the output. The first output word appears
    ``SF + 8`` cycles after the last input word of a vector is accepted (when the unit was idle; with
    multi-bit weights one more per level of the slice sums' adder tree), the following words of that
    vector every ``SF`` cycles.
    A single advance enable stalls the whole compute pipeline when its result cannot be written
    into the output FIFO; that enable is a register set from the FIFO's fill level
    (:func:`~bnn_hw.hdl._output.buffered_output`), and ``i.ready`` depends only on registers, so no
    ready signal passes through the unit combinationally.

    Parameters
    ----------
    weights : array-like of 0/1 (integers for ``weight_bits > 1``), shape (M, N)
        Or shape (sets, M, N): vector ``v`` uses matrix ``v % sets``.
    thresholds : array-like of int, shape (M, K), each row sorted ascending; or None
        Or shape (classes, M, K): one table per class, chosen per vector by ``schedule``.
    pe, simd : int
        Output and input parallelism, at least 1 (need not divide ``M``, ``N``).
    schedule : sequence of int, optional
        The threshold class of each vector, repeating: vector ``v`` uses table
        ``schedule[v % len(schedule)]`` (a convolution's border classes, one entry per output pixel
        of a frame). Held in a ROM of ``len(schedule)`` words.
    element_width : int
        Bits per input element: 1 (binary) or more (integers, at most 24).
    signed_elements : bool
        Multi-bit elements are two's complement (default: unsigned).
    weight_bits : int
        1 (+-1 weights) or 2..16 (two's complement integer weights; multi-bit elements only).
    sparse : (a, d), optional
        A sparse ``{alpha, beta}`` layer: ``weights`` are its mask bits and each lane computes
        ``a * popcount(x) + d * popcount(x AND w)`` (:class:`~bnn_hw.hdl.mvu_sparse.SparseDatapath`),
        thresholded (``thresholds`` required).
    invert : array-like of bool, shape (M,), optional
        With ``sparse``: channels whose output bits are inverted (an extra bit per lane in the
        threshold ROM).
    multipliers : bool
        Multi-bit elements and weights: multiply each element by its weight in a multiplier (a DSP
        block, :class:`~bnn_hw.hdl.mvu_mac.ProductDatapath`) instead of summing bit planes in LUTs.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(simd * element_width)))
    o : Out(stream.Signature(unsigned(pe * K))) with thresholds, else
        Out(stream.Signature(data.ArrayLayout(signed(w), pe))), ``w`` the :attr:`score_width`
    """

    def __init__(self, weights, thresholds, pe, simd, schedule=None, element_width=1, signed_elements=False,
                 weight_bits=1, sparse=None, invert=None, multipliers=False):
        # recorded first so that __repr__ works even when validation fails
        self._pe = pe
        self._simd = simd
        self._wshape = _shape_of(weights)
        self._tshape = None if thresholds is None else _shape_of(thresholds)
        self._thresholds = thresholds
        require_positive_ints((int, np.integer), pe=pe, simd=simd)
        pe, simd = int(pe), int(simd)
        self._pe, self._simd = pe, simd
        require_positive_ints((int, np.integer), element_width=element_width, weight_bits=weight_bits)
        if element_width > 24 or weight_bits > 16:
            raise ValueError(f"element_width must be at most 24 and weight_bits at most 16, not "
                             f"{element_width} and {weight_bits}")
        if element_width == 1 and (signed_elements or weight_bits > 1):
            raise ValueError("binary elements (element_width=1) take +-1 weights (weight_bits=1), unsigned")
        self._e, self._signed, self._b = int(element_width), bool(signed_elements), int(weight_bits)
        self._weights = _weight_array(weights, self._b)
        self._M, self._N = self._weights.shape[1:]
        self._schedule = None
        if thresholds is not None:
            self._thresholds = _threshold_tables(thresholds, self._M, ordered=sparse is None)
            self._schedule = _class_schedule(schedule, self._thresholds.shape[0])
        elif schedule is not None:
            raise ValueError("a schedule needs thresholds")
        self._invert = None
        if sparse is not None:
            if self._e != 1 or self._b != 1 or thresholds is None:
                raise ValueError("a sparse unit takes binary elements and mask bits, and gives thresholded bits")
            self._datapath = SparseDatapath(pe, simd, *sparse)
            if invert is not None:
                self._invert = np.asarray(invert, bool)
                if self._invert.shape != (self._M,):
                    raise ValueError(f"invert must have shape ({self._M},), not {self._invert.shape}")
        elif invert is not None:
            raise ValueError("only a sparse unit inverts channels")
        elif self._e == 1:
            self._datapath = PopcountDatapath(pe, simd)
        elif multipliers:
            self._datapath = ProductDatapath(pe, simd, self._e, self._signed, self._b)
        else:
            self._datapath = MacDatapath(pe, simd, self._e, self._signed, self._b)
        if multipliers and not isinstance(self._datapath, ProductDatapath):
            raise ValueError("multipliers take multi-bit elements and weights (element_width and weight_bits > 1)")

        if thresholds is None:
            out_shape = data.ArrayLayout(signed(self.score_width), pe)
        else:
            out_shape = unsigned(pe * self._thresholds.shape[2])
        super().__init__({
            "i": In(stream.Signature(unsigned(simd * element_width))),
            "o": Out(stream.Signature(out_shape)),
        })

    # -- geometry ---------------------------------------------------------------------------------

    @property
    def in_features(self):
        """N, bits per input vector."""
        return self._N

    @property
    def out_features(self):
        """M, output channels."""
        return self._M

    @property
    def pe(self):
        return self._pe

    @property
    def simd(self):
        return self._simd

    @property
    def k(self):
        """Thresholds per channel (output bits per lane), or None for the score layer."""
        return None if self._thresholds is None else self._thresholds.shape[2]

    @property
    def threshold_classes(self):
        """Threshold tables (1 unless a schedule picks one per vector)."""
        return 1 if self._thresholds is None else self._thresholds.shape[0]

    @property
    def sf(self):
        """Input words per vector, ``ceil(N / simd)``."""
        return ceil_div(self._N, self._simd)

    @property
    def nf(self):
        """Output words per vector, ``ceil(M / pe)``."""
        return ceil_div(self._M, self._pe)

    @property
    def cycles_per_vector(self):
        """Steady-state compute cycles per vector, ``NF * SF``."""
        return self.nf * self.sf

    @property
    def element_width(self):
        """Bits per input element: 1 (binary, XNOR-popcount) or more (integers, dot products)."""
        return self._e

    @property
    def weight_bits(self):
        """1 (+-1 weights) or the width of the two's complement integer weights."""
        return self._b

    @property
    def accumulator_range(self):
        """``(lo, hi)``: what the per-channel accumulator can hold (the popcount ``0..N`` for bits,
        else ``-h..h`` with ``h`` ``N`` times the largest element and weight magnitudes: ``255 N``
        for pixels and +-1 weights); thresholds compare against it."""
        return self._datapath.sum_range(self._N)

    @property
    def score_width(self):
        """Width of the signed scores (score layer only), holding ``-N..N`` (the accumulator's
        range for multi-bit elements)."""
        return max(self._N, self.accumulator_range[1]).bit_length() + 1

    def __repr__(self):
        def fmt(shape):
            return "None" if shape is None else "<" + "x".join(map(str, shape)) + ">"
        return (f"MatrixVectorUnit(weights={fmt(self._wshape)}, thresholds={fmt(self._tshape)}, "
                f"pe={self._pe!r}, simd={self._simd!r})")

    # -- memory images ----------------------------------------------------------------------------

    @property
    def weight_sets(self):
        """Weight matrices used in turn, one per vector (a grouped convolution's groups)."""
        return self._weights.shape[0]

    def weight_words(self):
        """The weight ROM image: ``sets * NF * SF`` ints of ``pe * simd * B`` bits (``B`` the
        :attr:`weight_bits`).

        Bits ``(l * simd + s) * B ..`` of word ``(set * NF + nf) * SF + sf`` hold
        ``weights[set, nf * pe + l, sf * simd + s]`` (two's complement for ``B > 1``). All padding
        weights (columns ``n >= N`` and rows ``m >= M``) are 1 (``B = 1``: with the zero-masked input
        padding ``xnor(0, 1) = 0`` never counts and every accumulator stays in ``0..N``) or 0.
        """
        M, N, pe, simd, SF, NF, B = self._M, self._N, self._pe, self._simd, self.sf, self.nf, self._b
        words = []
        for matrix in self._weights:
            padded = np.full((NF * pe, SF * simd), 1 if B == 1 else 0, dtype=np.int64)
            padded[:M, :N] = matrix
            for nf in range(NF):
                for sf in range(SF):
                    block = padded[nf * pe:(nf + 1) * pe, sf * simd:(sf + 1) * simd].reshape(-1)
                    words.append(sum((int(w) & ((1 << B) - 1)) << (k * B) for k, w in enumerate(block)))
        return words

    def threshold_words(self):
        """The threshold ROM image: ``classes * NF`` ints of ``pe * K * tw`` bits, and ``tw``.

        Thresholds are clipped to ``0..N+1`` (``T <= 0``: always 1; ``T > N``: always 0) and
        stored in ``tw = bit_length(N + 1)`` bits; field ``l * K + j`` of word ``c * NF + nf`` holds
        class ``c``, channel ``nf * pe + l``, threshold ``j``. Lanes beyond ``M`` hold ``N + 1``
        (always 0).
        """
        M, pe, K, NF = self._M, self._pe, self.k, self.nf
        lo, hi = self.accumulator_range
        tw = Shape.cast(range(lo, hi + 2)).width  # two's complement where values go below 0
        mask = (1 << tw) - 1
        invert = np.zeros(NF * pe, bool)
        if self._invert is not None:
            invert[:M] = self._invert
        words = []
        for table in self._thresholds:
            clipped = np.full((NF * pe, K), hi + 1, dtype=np.int64)
            clipped[:M] = np.clip(table, lo, hi + 1)
            for nf in range(NF):
                word = 0
                for l in range(pe):
                    for j in range(K):
                        word |= (int(clipped[nf * pe + l, j]) & mask) << ((l * K + j) * tw)
                    if self._invert is not None:
                        word |= int(invert[nf * pe + l]) << (pe * K * tw + l)
                words.append(word)
        return words, tw

    # -- hardware ---------------------------------------------------------------------------------

    def elaborate(self, platform):
        """The input buffer, then the compute pipeline: stage 0 reads the input and weight words,
        stages 1 to 1s register them, the datapath's stages give each lane's dot product of the
        word, stage 2 registers it, stage 3 accumulates a vector's words, and the thresholds or
        scores go through the result register into the output FIFO."""
        m = Module()
        buffer = self._input_buffer(m)
        # The result register feeds a FIFO; the pipeline's advance enable is a register set from its
        # fill level, so it does not wait on the consumer's ready combinationally
        # (a long path through neighbouring stages into this unit's many clock enables).
        res_valid, res_payload, adv = buffered_output(m, self.o)
        pipe = Pipeline(m, adv, self._flags_layout())
        position, rom = self._walk_vectors(m, adv, buffer)
        f0 = self._stage0_flags(m, position)
        f1s, x1s, w1s = self._read_words(pipe, f0, buffer.port, rom)
        before_f2, values = self._datapath.build(pipe, x1s, w1s, f1s)
        f2, pc2 = self._word_values(pipe, before_f2, values)
        v3, nf3, acc = self._accumulate(pipe, f2, pc2)
        if self._thresholds is not None:
            result = self._thresholded(pipe, before_f2.taddr, acc)
        else:
            result = self._scores(m, acc, nf3)
        with m.If(adv):
            m.d.sync += res_valid.eq(v3)
            with m.If(v3):
                m.d.sync += res_payload.eq(result)
        return m

    def _input_buffer(self, m):
        """The double-buffered (ping-pong, ``2 * SF`` words) input vector store and its write side:
        input words are accepted while the half being written is free, the padding bits of a
        vector's last word masked; a half becomes full with the vector's last word."""
        N, simd, SF, E = self._N, self._simd, self.sf, self._e
        m.submodules.inbuf = inbuf = Memory(shape=unsigned(simd * E), depth=2 * SF, init=[])
        wr = inbuf.write_port()
        rd = inbuf.read_port()

        full = Signal(2)                 # bank holds a complete, not yet consumed vector
        wbank = Signal()
        rbank = Signal()
        wcnt = Signal(range(SF))
        wlast = Signal()
        m.d.comb += wlast.eq(wcnt == SF - 1)

        last_bits = (N - (SF - 1) * simd) * E
        in_mask = Signal(simd * E)
        m.d.comb += in_mask.eq(Mux(wlast, Const((1 << last_bits) - 1, simd * E),
                                   Const((1 << simd * E) - 1, simd * E)))

        put = Signal()
        m.d.comb += [
            self.i.ready.eq(~full.bit_select(wbank, 1)),
            put.eq(self.i.valid & self.i.ready),
            wr.addr.eq(Mux(wbank, SF, 0) + wcnt),
            wr.data.eq(self.i.payload & in_mask),
            wr.en.eq(put),
        ]
        set_full = Signal(2)
        clr_full = Signal(2)
        with m.If(put):
            m.d.sync += wcnt.eq(Mux(wlast, 0, wcnt + 1))
            with m.If(wlast):
                m.d.sync += wbank.eq(~wbank)
                m.d.comb += set_full.eq(1 << wbank)
        return _InputBuffer(rd, full, rbank, set_full, clr_full)

    def _walk_vectors(self, m, adv, buffer):
        """Stage 0: the counters that read a full half's ``SF`` words ``NF`` times (once per output
        word), the weight ROM in step, then release the half and move to the other one;
        ``(position, weight ROM)``."""
        # The statements keep the order they had before the unit's datapaths were split off: the
        # Verilog stays the same, and with it yosys's mapping (which can change with the order).
        SF, NF = self.sf, self.nf
        sf0 = Signal(range(SF))
        nf0 = Signal(range(NF))
        active = Signal()
        first0 = Signal()
        last0 = Signal()
        m.d.comb += [
            active.eq(buffer.full.bit_select(buffer.bank, 1)),
            first0.eq(sf0 == 0),
            last0.eq(sf0 == SF - 1),
        ]
        rom = self._weight_rom(m, adv)
        # the read address, Mux(bank, SF, 0) + sf0 at all times, kept in a register of its own so
        # that no adder sits between the counters and the input buffer's read (added on a misreading
        # of a BNext critical path that was the weight ROM's, benchmarks/README.md; kept because the
        # builds that met 100 MHz have it)
        raddr = Signal(range(2 * SF))
        m.d.comb += [
            buffer.port.addr.eq(raddr),
            buffer.port.en.eq(adv),
        ]
        step = adv & active
        with m.If(step):
            m.d.sync += [sf0.eq(Mux(last0, 0, sf0 + 1)), raddr.eq(raddr + 1)]
            self._advance_weight_address(m, rom)
            with m.If(last0):
                m.d.sync += [nf0.eq(Mux(nf0 == NF - 1, 0, nf0 + 1)), raddr.eq(Mux(buffer.bank, SF, 0))]
                with m.If(nf0 == NF - 1):
                    m.d.sync += [buffer.bank.eq(~buffer.bank), raddr.eq(Mux(buffer.bank, 0, SF))]
                    m.d.comb += buffer.release.eq(1 << buffer.bank)
        m.d.sync += buffer.full.eq((buffer.full & ~buffer.release) | buffer.filled)
        return _Position(active, step, first0, last0, nf0), rom

    def _weight_rom(self, m, adv):
        """The weight ROM, in banks of :func:`rom_bank_depth` words, read (while ``adv``) at word
        ``(set * NF + nf) * SF + sf``, kept as a counter (no multiplier) of the bank and the word in
        it."""
        rom_words, weight_words = self.weight_sets * self.nf * self.sf, self.weight_words()
        width = self._pe * self._simd * self._b
        bank_depth = min(rom_words, rom_bank_depth(width))
        banks = ceil_div(rom_words, bank_depth)
        waddr0, wbank0 = Signal(range(bank_depth)), Signal(range(banks))
        wports = []
        for b in range(banks):
            init = weight_words[b * bank_depth:(b + 1) * bank_depth]
            wrom = Memory(shape=unsigned(width), depth=len(init), init=init)
            m.submodules["wrom" if banks == 1 else f"wrom{b}"] = wrom
            wports.append(wrom.read_port())
            m.d.comb += [wports[-1].addr.eq(waddr0), wports[-1].en.eq(adv)]
        return _WeightRom(wports, wbank0, waddr0, bank_depth, rom_words - (banks - 1) * bank_depth)

    def _advance_weight_address(self, m, rom):
        """Move the weight ROM's address on by a word, from the last word back to the first."""
        last_bank = len(rom.ports) - 1
        with m.If((rom.bank == last_bank) & (rom.address == rom.last_bank_words - 1)):
            m.d.sync += [rom.address.eq(0), rom.bank.eq(0)]
        with m.Elif(rom.address == rom.bank_depth - 1):
            m.d.sync += [rom.address.eq(0), rom.bank.eq(rom.bank + 1)]
        with m.Else():
            m.d.sync += rom.address.eq(rom.address + 1)

    def _flags_layout(self):
        """The flags that travel down the pipeline with each word."""
        return data.StructLayout({"valid": 1, "first": 1, "last": 1, "nf": range(self.nf),
                                  "taddr": range(self.threshold_classes * self.nf)})

    def _stage0_flags(self, m, position):
        """The flags of the word read at stage 0."""
        f0 = Signal(self._flags_layout())
        m.d.comb += [f0.valid.eq(position.active), f0.first.eq(position.first), f0.last.eq(position.last),
                     f0.nf.eq(position.nf), f0.taddr.eq(self._threshold_address(m, position))]
        return f0

    def _threshold_address(self, m, position):
        """The threshold ROM address of the word computed at stage 0: its vector's class's table,
        then ``nf``; the class from the schedule ROM, read a cycle ahead so it is ready when the
        vector changes."""
        NF = self.nf
        taddr0 = Signal(range(self.threshold_classes * NF))
        if self._schedule is None:
            m.d.comb += taddr0.eq(position.nf)
            return taddr0
        V = len(self._schedule)
        m.submodules.srom = srom = Memory(shape=range(self.threshold_classes * NF), depth=V,
                                          init=[c * NF for c in self._schedule])
        sport = srom.read_port()
        v, v_next = Signal(range(V)), Signal(range(V))
        m.d.comb += v_next.eq(v)
        with m.If(position.step & position.last & (position.nf == NF - 1)):
            m.d.comb += v_next.eq(Mux(v == V - 1, 0, v + 1))
        m.d.sync += v.eq(v_next)
        m.d.comb += [sport.addr.eq(v_next), taddr0.eq(sport.data + position.nf)]
        return taddr0

    def _read_words(self, pipe, f0, rd, rom):
        """Stages 1 to 1s: the input and weight words as read, registered twice; ``(flags, x, w)``."""
        simd, E, B = self._simd, self._e, self._b
        # stage 1: memory data available
        f1 = pipe.stage(f0, "f1")
        x1, w1, before_r = rd.data, rom.ports[0].data, f1
        if len(rom.ports) > 1:
            before_r, x1, w1 = self._select_bank(pipe, f1, rd, rom)
        # stage 1r: register the memory outputs, so the block RAM's slow clock-to-output is not in
        # the popcount path; reset-less, so that on the ECP5 it moves into the block RAM's own output
        # register (bnn_hw.boards.ecp5_outreg)
        f1r = pipe.stage(before_r, "f1r")
        x1r, w1r = Signal(simd * E, reset_less=True), Signal(self._pe * simd * B, reset_less=True)
        pipe.register(x1r, x1)
        pipe.register(w1r, w1)
        # stage 1s: the words registered again, so the placer can put one copy by the memories and
        # one by the lanes' compressor trees, which spread over many columns (the CNN's conv5: one
        # net from the weight register to a popcount took 2.88 ns of its 10.2 ns critical path);
        # reset-less, so that on the ECP5 multipliers' operands move into the DSP blocks' input
        # registers (bnn_hw.boards.ecp5_dsp_registers)
        f1s = pipe.stage(f1r, "f1s")
        x1s, w1s = Signal(simd * E, reset_less=True), Signal(self._pe * simd * B, reset_less=True)
        pipe.register(x1s, x1r)
        pipe.register(w1s, w1r)
        return f1s, x1s, w1s

    def _select_bank(self, pipe, f1, rd, rom):
        """Stage 1b of a banked weight ROM: every bank's word registered right at its block RAM, then
        the bank picked from registers (a multiplexer straight after the block RAMs' slow
        clock-to-output held the CNN's clock under 100 MHz); ``(flags, x, w)``."""
        f1b = pipe.stage(f1, "f1b")
        bank1, bank1b = Signal.like(rom.bank), Signal.like(rom.bank)
        held = [Signal(self._pe * self._simd * self._b, name=f"wbank{b}", reset_less=True)
                for b in range(len(rom.ports))]
        x1b = Signal(self._simd * self._e, reset_less=True)
        pipe.register(bank1, rom.bank)
        pipe.register(bank1b, bank1)
        pipe.register(x1b, rd.data)
        for h, port in zip(held, rom.ports):
            pipe.register(h, port.data)
        return f1b, x1b, Array(held)[bank1b]

    def _word_values(self, pipe, flags, values):
        """Stage 2: each lane's dot product of the word (the popcount for bits), registered."""
        f2 = pipe.stage(flags, "f2")
        lo, hi = self._datapath.sum_range(self._simd)
        pc2 = [Signal(range(lo, hi + 1), name=f"pc{l}") for l in range(self._pe)]
        for pc, value in zip(pc2, values):
            pipe.register(pc, value)
        return f2, pc2

    def _accumulate(self, pipe, f2, pc2):
        """Stage 3: each lane's word values summed over the ``SF`` words of a vector; ``(valid, nf,
        accumulators)``, valid after a vector's last word."""
        m = pipe.m
        acc_lo, acc_hi = self.accumulator_range
        acc = [Signal(range(acc_lo, acc_hi + 1), name=f"acc{l}") for l in range(self._pe)]
        v3, nf3 = Signal(), Signal(range(self.nf))
        pipe.register(v3, f2.valid & f2.last)
        pipe.register(nf3, f2.nf)
        with m.If(pipe.advance):
            with m.If(f2.valid):
                for a, pc in zip(acc, pc2):
                    m.d.sync += a.eq(Mux(f2.first, 0, a) + pc)
        return v3, nf3, acc

    def _thresholded(self, pipe, taddr, acc):
        """The output word's bits: each lane's accumulator against its thresholds, read from the
        threshold ROM at ``taddr`` one stage early and registered, so that the ROM's clock-to-output
        is not in the comparator path."""
        pe, K = self._pe, self.k
        words, tw = self.threshold_words()
        width = pe * K * tw + (pe if self._invert is not None else 0)
        pipe.m.submodules.trom = trom = Memory(shape=unsigned(width), depth=len(words), init=words)
        tport = trom.read_port()
        thr3 = Signal(width, reset_less=True)
        pipe.m.d.comb += [tport.addr.eq(taddr), tport.en.eq(pipe.advance)]
        pipe.register(thr3, tport.data)
        signed_thresholds = self.accumulator_range[0] < 0
        bits = []
        for l in range(pe):
            for j in range(K):
                t = thr3[(l * K + j) * tw:(l * K + j + 1) * tw]
                bit = acc[l] >= (t.as_signed() if signed_thresholds else t)
                bits.append(bit ^ thr3[pe * K * tw + l] if self._invert is not None else bit)
        return Cat(bits)

    def _scores(self, m, acc, nf3):
        """The output word of the score layer: each lane's signed dot product; lanes beyond ``M``
        in the last word 0."""
        M, N, pe, NF, sw = self._M, self._N, self._pe, self.nf, self.score_width
        last_lanes = M - (NF - 1) * pe
        lanes = []
        for l in range(pe):
            dot = Signal(signed(sw), name=f"dot{l}")
            m.d.comb += dot.eq(self._datapath.score(acc[l], N))
            if l >= last_lanes:
                dot = Mux(nf3 == NF - 1, 0, dot)
            lanes.append(dot[:sw])
        return Cat(lanes)


    @classmethod
    def for_sparse(cls, op, form, fold):
        """The folded unit of a :class:`~bnn_hw.compiler.ops.SparseDense` (``form`` its
        :meth:`~bnn_hw.compiler.ops.SparseDense.hardware_form`): mask bits as weights."""
        if form.thresholds is None:
            raise ValueError(f"{op!r} gives scores, which only its unrolled build computes: fold it to its "
                             f"full lanes ({op.out_features}x{op.in_features}, or NAME=unrolled)")
        return cls(op.mask, form.thresholds, pe=fold.pe, simd=fold.simd, sparse=(form.a, form.d),
                   invert=form.invert if form.invert.any() else None)


@builds(ops.BinaryDense)
def _binary_dense(op, in_type, fold):
    """XNOR-popcount of the input bits, then the op's thresholds (or its scores); unrolled at full
    lanes (:class:`~bnn_hw.hdl.unrolled_dense.UnrolledDense`)."""
    if op.is_unrolled(in_type, fold):
        from .unrolled_dense import UnrolledDense
        return UnrolledDense(2 * op.weights.astype(np.int8) - 1, op.thresholds, score_scale=2,
                             score_offsets=np.full(op.out_features, op.in_features), score_width=op.score_width)
    return MatrixVectorUnit(op.weights, op.thresholds, pe=fold.pe, simd=fold.simd)


class BipolarMac(wiring.Component):
    """A multiply-accumulate :class:`MatrixVectorUnit` on +-1 inputs given as bits: on the way in each
    bit becomes a 2-bit two's complement element, +1 (``01``) for bit 1 and -1 (``11``) for bit 0
    (wiring), so the unit's scores are ``sum_n weights[m, n] * (2 x[n] - 1)``.

    Parameters
    ----------
    weights : array of int, shape (M, N)
    pe, simd : int
    weight_bits : int
        Two's complement bits of the weights.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(simd)))
    o : the unit's scores, Out(stream.Signature(data.ArrayLayout(signed(w), pe)))
    """

    def __init__(self, weights, pe, simd, weight_bits):
        self.unit = MatrixVectorUnit(weights, None, pe=pe, simd=simd, element_width=2, signed_elements=True,
                                     weight_bits=weight_bits)
        super().__init__({"i": In(stream.Signature(unsigned(simd))), "o": self.unit.signature.members["o"]})

    @property
    def score_width(self):
        return self.unit.score_width

    def __repr__(self):
        return f"BipolarMac({self.unit!r})"

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        bits = self.i.payload
        m.d.comb += [unit.i.payload.eq(Cat(Cat(Const(1, 1), ~bits[s]) for s in range(len(bits)))),
                     unit.i.valid.eq(self.i.valid), self.i.ready.eq(unit.i.ready)]
        wiring.connect(m, unit.o, wiring.flipped(self.o))
        return m


@builds(ops.FixedDense)
def _fixed_dense(op, in_type, fold):
    """The integer weights times the +-1 inputs (:class:`BipolarMac`)."""
    return BipolarMac(op.weights, pe=fold.pe, simd=fold.simd, weight_bits=op.weight_bits)


@builds(ops.FixedConv)
def _fixed_conv(op, in_type, fold):
    """Multiply-accumulate of the two's complement input values with the op's integer weights."""
    return MatrixVectorUnit(op.weights, None, pe=fold.pe, simd=fold.simd, element_width=in_type.width,
                            signed_elements=True, weight_bits=op.weight_bits, multipliers=fold.multipliers)
