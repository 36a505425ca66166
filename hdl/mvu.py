"""Matrix-vector unit: XNOR-popcount for binary layers, multiply-accumulate for multi-bit inputs."""

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import require_positive_ints
from ._output import buffered_output
from .popcount import xnor_popcount

__all__ = ["MatrixVectorUnit", "POPCOUNT_CHUNK", "SUM_GROUP", "MAC_CHUNK", "rom_bank_depth", "element_range",
           "dot_bound"]

#: The popcount of a ``simd``-bit word is pipelined: slices of this many bits, then their sum.
POPCOUNT_CHUNK = 16
#: ECP5 DP16KD depth at each narrow port width; 512 words at 36 bits and wider.
_BLOCK_DEPTH_BY_WIDTH = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024))
#: At most this many slice popcounts are added in one cycle; more are summed in groups first (a
#: 192-bit word's 12 slices in one adder tree held the CNN's clock at 96 MHz).
SUM_GROUP = 4
#: With multi-bit weights each bit plane sums slices of this many multi-bit elements, then the slice
#: sums SUM_GROUP at a time, one registered level each (16 10-bit values in one cycle held the
#: Bi-Real example's 1x1 convolution at 78 MHz).
MAC_CHUNK = 4


def rom_bank_depth(width: int) -> int:
    """Words per bank of a ``width``-bit weight ROM: one ECP5 DP16KD deep at the narrowest aspect
    ratio that holds the word (512 words at 36 bits and wider, 8,192 at 2 bits). Deeper ROMs are
    split into banks, each registered at its block RAM. Banking a narrow ROM at 512 words instead
    made yosys build the small banks from LUTs (the CNN's 2-bit dense17: 535 LUT4, no block RAM)."""
    return next((depth for w, depth in _BLOCK_DEPTH_BY_WIDTH if width <= w), 512)


def element_range(element_width: int, signed_elements: bool) -> tuple[int, int]:
    """The smallest and largest multi-bit element: two's complement or unsigned."""
    if signed_elements:
        return -(1 << (element_width - 1)), (1 << (element_width - 1)) - 1
    return 0, (1 << element_width) - 1


def dot_bound(n: int, element_width: int, signed_elements: bool, weight_bits: int) -> int:
    """The largest magnitude of a dot product of ``n`` multi-bit elements with weights: ``n`` times
    the largest element magnitude times the largest weight magnitude (1 for +-1 weights)."""
    element = max(map(abs, element_range(element_width, signed_elements)))
    return n * element * (1 << (weight_bits - 1))


def _ceil_div(a, b):
    return -(-a // b)


def _shape_of(array):
    try:
        return tuple(int(n) for n in np.shape(array))
    except Exception:
        return ("?",)


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
    into the 3-word output FIFO; that FIFO's write-ready depends only on its fill level, and
    ``i.ready`` only on registers, so no ready signal passes through the unit combinationally.

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

    Attributes
    ----------
    i : In(stream.Signature(unsigned(simd * element_width)))
    o : Out(stream.Signature(unsigned(pe * K))) with thresholds, else
        Out(stream.Signature(data.ArrayLayout(signed(w), pe))), ``w`` the :attr:`score_width`
    """

    def __init__(self, weights, thresholds, pe, simd, schedule=None, element_width=1, signed_elements=False,
                 weight_bits=1):
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

        weights = np.asarray(weights)
        if weights.ndim == 2:
            weights = weights[None]
        if weights.ndim != 3 or min(weights.shape) < 1:
            raise ValueError(f"weights must be a non-empty 2-D array (M, N) or 3-D (sets, M, N), "
                             f"not of shape {weights.shape}")
        if self._b == 1 and not np.all((weights == 0) | (weights == 1)):
            raise ValueError("weights must contain only 0 and 1 (bit 1 is +1)")
        w_lo, w_hi = -(1 << (self._b - 1)), (1 << (self._b - 1)) - 1
        if self._b > 1 and not (np.all(weights == np.round(weights)) and w_lo <= weights.min() and weights.max() <= w_hi):
            raise ValueError(f"{self._b}-bit weights must be integers in {w_lo}..{w_hi}")
        self._weights = weights = weights.astype(np.uint8 if self._b == 1 else np.int64)
        M, N = weights.shape[1:]

        self._schedule = None
        if thresholds is not None:
            try:
                tarr = np.asarray(thresholds)
                if tarr.dtype.kind not in "iu" and not (
                        tarr.dtype.kind == "f" and np.all(tarr == np.round(tarr))):
                    raise TypeError
                tarr = tarr.astype(np.int64)
            except (TypeError, ValueError, OverflowError):
                raise ValueError("thresholds must be an integer array of shape (M, K) or None")
            if tarr.ndim == 2:
                tarr = tarr[None]
            if tarr.ndim != 3 or tarr.shape[0] < 1 or tarr.shape[1] != M or tarr.shape[2] < 1:
                raise ValueError(f"thresholds must have shape ({M}, K) or (classes, {M}, K) with K >= 1, "
                                 f"not {tarr.shape}")
            if np.any(np.diff(tarr, axis=2) < 0):
                raise ValueError("each row of thresholds must be sorted ascending")
            self._thresholds = tarr
            if schedule is not None or tarr.shape[0] > 1:
                sched = np.asarray(schedule if schedule is not None else [], dtype=np.int64).reshape(-1)
                if sched.size == 0 or sched.min() < 0 or sched.max() >= tarr.shape[0]:
                    raise ValueError(f"with {tarr.shape[0]} threshold classes, schedule must be a non-empty "
                                     f"sequence of class indices 0..{tarr.shape[0] - 1}")
                self._schedule = tuple(int(c) for c in sched)
        elif schedule is not None:
            raise ValueError("a schedule needs thresholds")
        self._M, self._N = M, N

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
        return _ceil_div(self._N, self._simd)

    @property
    def nf(self):
        """Output words per vector, ``ceil(M / pe)``."""
        return _ceil_div(self._M, self._pe)

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
        if self._e == 1:
            return 0, self._N
        hi = dot_bound(self._N, self._e, self._signed, self._b)
        return -hi, hi

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

    @property
    def _word_bound(self):
        """The largest magnitude of one input word's dot product (multi-bit elements)."""
        return dot_bound(self._simd, self._e, self._signed, self._b)

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
        tw = (hi + 1).bit_length() + (lo < 0)  # signed for pixel units
        mask = (1 << tw) - 1
        words = []
        for table in self._thresholds:
            clipped = np.full((NF * pe, K), hi + 1, dtype=np.int64)
            clipped[:M] = np.clip(table, lo, hi + 1)
            for nf in range(NF):
                word = 0
                for l in range(pe):
                    for j in range(K):
                        word |= (int(clipped[nf * pe + l, j]) & mask) << ((l * K + j) * tw)
                words.append(word)
        return words, tw

    # -- hardware ---------------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()

        M, N, pe, simd, SF, NF, E, B = self._M, self._N, self._pe, self._simd, self.sf, self.nf, self._e, self._b

        # ---- input side: double-buffered vector store ----
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

        # ---- compute pipeline, all stages advance together ----
        # The result register feeds a 3-word FIFO whose write-ready depends only on its fill level,
        # so the pipeline's advance enable does not wait on the consumer's ready combinationally
        # (a long path through neighbouring stages into this unit's many clock enables).
        res_valid, res_payload, adv = buffered_output(m, self.o)

        # stage 0: address generation
        sf0 = Signal(range(SF))
        nf0 = Signal(range(NF))
        active = Signal()
        first0 = Signal()
        last0 = Signal()
        m.d.comb += [
            active.eq(full.bit_select(rbank, 1)),
            first0.eq(sf0 == 0),
            last0.eq(sf0 == SF - 1),
        ]

        # (set * NF + nf0) * SF + sf0, kept as a counter (no multiplier), split into the bank of
        # rom_bank_depth words and the word in it
        rom_words, weight_words = self.weight_sets * NF * SF, self.weight_words()
        bank_depth = min(rom_words, rom_bank_depth(pe * simd * B))
        banks = -(-rom_words // bank_depth)
        waddr0, wbank0 = Signal(range(bank_depth)), Signal(range(banks))
        wports = []
        for b in range(banks):
            init = weight_words[b * bank_depth:(b + 1) * bank_depth]
            wrom = Memory(shape=unsigned(pe * simd * B), depth=len(init), init=init)
            m.submodules["wrom" if banks == 1 else f"wrom{b}"] = wrom
            wports.append(wrom.read_port())
            m.d.comb += [wports[-1].addr.eq(waddr0), wports[-1].en.eq(adv)]
        m.d.comb += [
            rd.addr.eq(Mux(rbank, SF, 0) + sf0),
            rd.en.eq(adv),
        ]
        last_bank_words = rom_words - (banks - 1) * bank_depth
        with m.If(adv & active):
            m.d.sync += sf0.eq(Mux(last0, 0, sf0 + 1))
            with m.If((wbank0 == banks - 1) & (waddr0 == last_bank_words - 1)):
                m.d.sync += [waddr0.eq(0), wbank0.eq(0)]
            with m.Elif(waddr0 == bank_depth - 1):
                m.d.sync += [waddr0.eq(0), wbank0.eq(wbank0 + 1)]
            with m.Else():
                m.d.sync += waddr0.eq(waddr0 + 1)
            with m.If(last0):
                m.d.sync += nf0.eq(Mux(nf0 == NF - 1, 0, nf0 + 1))
                with m.If(nf0 == NF - 1):
                    m.d.sync += rbank.eq(~rbank)
                    m.d.comb += clr_full.eq(1 << rbank)

        m.d.sync += full.eq((full & ~clr_full) | set_full)

        # threshold ROM address of the word computed at stage 0: its class's table, then nf
        taddr0 = Signal(range(self.threshold_classes * NF))
        if self._schedule is None:
            m.d.comb += taddr0.eq(nf0)
        else:
            # class of each vector, cyclically; read one cycle ahead so it is ready when v moves
            V = len(self._schedule)
            m.submodules.srom = srom = Memory(shape=range(self.threshold_classes * NF), depth=V,
                                              init=[c * NF for c in self._schedule])
            sport = srom.read_port()
            v, v_next = Signal(range(V)), Signal(range(V))
            m.d.comb += v_next.eq(v)
            with m.If(adv & active & last0 & (nf0 == NF - 1)):
                m.d.comb += v_next.eq(Mux(v == V - 1, 0, v + 1))
            m.d.sync += v.eq(v_next)
            m.d.comb += [sport.addr.eq(v_next), taddr0.eq(sport.data + nf0)]

        # Pipeline flags travel with the data: one struct-typed register per stage, all advancing
        # together on ``adv``.
        flags = data.StructLayout({"valid": 1, "first": 1, "last": 1, "nf": range(NF),
                                   "taddr": range(self.threshold_classes * NF)})
        f0 = Signal(flags)
        m.d.comb += [f0.valid.eq(active), f0.first.eq(first0), f0.last.eq(last0), f0.nf.eq(nf0),
                     f0.taddr.eq(taddr0)]

        def next_stage(previous, name):
            stage = Signal(flags, name=name)
            with m.If(adv):
                m.d.sync += stage.eq(previous)
            return stage

        # stage 1: memory data available
        f1 = next_stage(f0, "f1")
        x1, w1, before_r = rd.data, wports[0].data, f1
        if banks > 1:
            # stage 1b: every bank's word registered right at its block RAM, then the bank picked
            # from registers (a multiplexer straight after the block RAMs' slow clock-to-output
            # held the CNN's clock under 100 MHz)
            before_r = next_stage(f1, "f1b")
            bank1, bank1b = Signal.like(wbank0), Signal.like(wbank0)
            held = [Signal(pe * simd * B, name=f"wbank{b}", reset_less=True) for b in range(banks)]
            x1b = Signal(simd * E, reset_less=True)
            with m.If(adv):
                m.d.sync += [bank1.eq(wbank0), bank1b.eq(bank1), x1b.eq(rd.data)]
                m.d.sync += [h.eq(port.data) for h, port in zip(held, wports)]
            x1, w1 = x1b, Array(held)[bank1b]
        # stage 1r: register the memory outputs, so the block RAM's slow clock-to-output is not in
        # the popcount path; reset-less, so that on the ECP5 it moves into the block RAM's own output
        # register (bnn_hw.boards.ecp5_outreg)
        f1r = next_stage(before_r, "f1r")
        x1r, w1r = Signal(simd * E, reset_less=True), Signal(pe * simd * B, reset_less=True)
        with m.If(adv):
            m.d.sync += [x1r.eq(x1), w1r.eq(w1)]
        # stage 1s: the words registered again, so the placer can put one copy by the memories and
        # one by the lanes' compressor trees, which spread over many columns (the CNN's conv5: one
        # net from the weight register to a popcount took 2.88 ns of its 10.2 ns critical path)
        f1s = next_stage(f1r, "f1s")
        x1s, w1s = Signal(simd * E), Signal(pe * simd * B)
        with m.If(adv):
            m.d.sync += [x1s.eq(x1r), w1s.eq(w1r)]

        # stage 1p: popcounts of POPCOUNT_CHUNK-bit slices, registered; for multi-bit elements, per
        # weight bit plane the sums of the elements under its 1 bits per slice and (for +-1 weights,
        # shared by the lanes) of all elements
        f1p = next_stage(f1s, "f1p")
        chunk = POPCOUNT_CHUNK if B == 1 else MAC_CHUNK
        chunks = [(lo, min(lo + chunk, simd)) for lo in range(0, simd, chunk)]
        e_lo, e_hi = (0, 1) if E == 1 else element_range(E, self._signed)
        planes = range(B)

        def chunk_sum(name, lo, hi):
            return Signal(range(min(e_lo, 0) * (hi - lo), e_hi * (hi - lo) + 1), name=name)

        partial = [[[chunk_sum(f"pp{l}_{j}_{c}", lo, hi) for c, (lo, hi) in enumerate(chunks)] for j in planes]
                   for l in range(pe)]
        totals = [chunk_sum(f"total{c}", lo, hi) for c, (lo, hi) in enumerate(chunks)] if E > 1 and B == 1 else []
        elements = [x1s[s * E:(s + 1) * E] for s in range(simd)] if E > 1 else []
        if self._signed:
            elements = [e.as_signed() for e in elements]
        with m.If(adv):
            for l in range(pe):
                for j in planes:
                    for (lo, hi), pp in zip(chunks, partial[l][j]):
                        if E == 1:
                            m.d.sync += pp.eq(xnor_popcount(m, x1s[lo:hi], w1s[l * simd + lo:l * simd + hi]))
                        else:
                            m.d.sync += pp.eq(sum(Mux(w1s[(l * simd + s) * B + j], elements[s], 0)
                                                  for s in range(lo, hi)))
            for (lo, hi), total in zip(chunks, totals):
                m.d.sync += total.eq(sum(elements[lo:hi]))
        # slice sums per lane and plane, each with the number of elements (bits) it adds up
        level = [[[(pp, hi - lo) for pp, (lo, hi) in zip(partial[l][j], chunks)] for j in planes]
                 for l in range(pe)]

        def group_sums(level, name):
            """Each lane's and plane's sums added SUM_GROUP at a time into registers: the next level."""
            reduced = [[[] for _ in planes] for _ in range(pe)]
            for l in range(pe):
                for j in planes:
                    terms = level[l][j]
                    for g in range(0, len(terms), SUM_GROUP):
                        group = terms[g:g + SUM_GROUP]
                        count = sum(n for _, n in group)
                        total = chunk_sum(f"{name}{l}_{j}_{g // SUM_GROUP}", 0, count)
                        with m.If(adv):
                            m.d.sync += total.eq(sum(value for value, _ in group))
                        reduced[l][j].append((total, count))
            return reduced

        # stage 1q (binary units of more than SUM_GROUP slices): one level of group sums, so no lane
        # adds more than SUM_GROUP numbers in one cycle; stages 1t (multi-bit weights): levels until
        # one sum per plane is left
        before_f2 = f1p
        if E == 1 and len(chunks) > SUM_GROUP:
            before_f2 = next_stage(f1p, "f1q")
            level = group_sums(level, "pg")
        depth = 0
        while B > 1 and len(level[0][0]) > 1:
            before_f2 = next_stage(before_f2, f"f1t{depth}")
            level, depth = group_sums(level, f"pt{depth}_"), depth + 1
        sums = [[[value for value, _ in level[l][j]] for j in planes] for l in range(pe)]

        # stage 2: the lane's popcount (multi-bit: its dot product: with +-1 weights
        # 2 * plus - total, else the planes' sums shifted, the sign plane's subtracted), registered
        f2 = next_stage(before_f2, "f2")
        v2, first2, last2, nf2 = f2.valid, f2.first, f2.last, f2.nf
        word_range = range(simd + 1) if E == 1 else range(-self._word_bound, self._word_bound + 1)
        pc2 = [Signal(word_range, name=f"pc{l}") for l in range(pe)]
        if totals:
            word_total = Signal(range(min(e_lo, 0) * simd, e_hi * simd + 1))   # shared by the lanes
            m.d.comb += word_total.eq(sum(totals))
        with m.If(adv):
            for l in range(pe):
                if E == 1:
                    m.d.sync += pc2[l].eq(sum(sums[l][0]))
                elif B == 1:
                    m.d.sync += pc2[l].eq(2 * sum(sums[l][0]) - word_total)
                else:
                    m.d.sync += pc2[l].eq(sum((sum(sums[l][j]) << j) for j in range(B - 1))
                                          - (sum(sums[l][B - 1]) << (B - 1)))

        # stage 2: accumulate over SF words
        acc_lo, acc_hi = self.accumulator_range
        acc = [Signal(range(acc_lo, acc_hi + 1), name=f"acc{l}") for l in range(pe)]
        v3, nf3 = Signal(), Signal(range(NF))
        with m.If(adv):
            m.d.sync += [
                v3.eq(v2 & last2),
                nf3.eq(nf2),
            ]
            with m.If(v2):
                for l in range(pe):
                    m.d.sync += acc[l].eq(Mux(first2, 0, acc[l]) + pc2[l])

        # stage 3: activation -> output register
        if self._thresholds is not None:
            K = self.k
            words, tw = self.threshold_words()
            m.submodules.trom = trom = Memory(shape=unsigned(pe * K * tw), depth=len(words), init=words)
            tport = trom.read_port()
            # read one stage early and register the data, so the ROM's clock-to-output is not in
            # the comparator path: thr3 holds the thresholds of nf3 when acc holds its popcounts
            thr3 = Signal(pe * K * tw, reset_less=True)
            m.d.comb += [
                tport.addr.eq(before_f2.taddr),
                tport.en.eq(adv),
            ]
            with m.If(adv):
                m.d.sync += thr3.eq(tport.data)
            bits = []
            for l in range(pe):
                for j in range(K):
                    t = thr3[(l * K + j) * tw:(l * K + j + 1) * tw]
                    bits.append(acc[l] >= (t if E == 1 else t.as_signed()))
            result = Cat(bits)
        else:
            sw = self.score_width
            last_lanes = M - (NF - 1) * pe
            lanes = []
            for l in range(pe):
                dot = Signal(signed(sw), name=f"dot{l}")
                m.d.comb += dot.eq(acc[l] * 2 - N if E == 1 else acc[l])
                if l >= last_lanes:
                    dot = Mux(nf3 == NF - 1, 0, dot)
                lanes.append(dot[:sw])
            result = Cat(lanes)

        with m.If(adv):
            m.d.sync += res_valid.eq(v3)
            with m.If(v3):
                m.d.sync += res_payload.eq(result)

        return m
