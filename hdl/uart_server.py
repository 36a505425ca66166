"""The UART inference server: frames in over a serial line, classes and scores back.

:class:`InferenceServer` speaks the protocol of :mod:`bnn_hw.wire` on its ``rx`` / ``tx`` pins::

    rx pin -> UartRx -> byte FIFO -> request parser (CRC) --payload--> Repack (bytes to words) -> frame RAM
    frame RAM (after a good CRC) -> [AsyncFIFO] -> pipeline -> [AsyncFIFO] -> Repack (result to bytes)
    reply writer (INFO table | result bytes, CRC) -> byte FIFO -> UartTx -> tx pin

A frame is received whole into block RAM and only streamed into the pipeline once its CRC has
checked out, so a corrupted frame never reaches it. The parser consumes bytes from a FIFO, so bytes
that arrive while a frame is computed wait there (bytes beyond its depth are lost, and the request
they belong to fails its CRC or times out). Every state either consumes input, or waits on the
pipeline or the transmitter, which always progress, or is left after ``timeout_bits`` bit times
without a byte: nothing hangs.

With ``pipeline_domain`` other than ``"sync"`` the pipeline runs in that clock domain (which the
parent defines) and frames and results cross through :class:`~amaranth.lib.fifo.AsyncFIFO`\\ s, the
pipeline's ends buffered in its domain.

The server knows nothing of plans: it takes the pipeline component and the values of its INFO table
(:class:`~bnn_hw.wire.Info`). Whoever has a plan builds its pipeline
(:func:`bnn_hw.hdl.pipeline.build_pipeline`), computes those values with the compiler
(:func:`bnn_hw.compiler.io_layout.plan_info`) and passes them in (:func:`InferenceServer.for_pipeline`): the board build (:mod:`bnn_hw.boards.build`,
which puts it on a board with :class:`~bnn_hw.boards.server_top.ServerTop`) and the simulation
(:mod:`bnn_hw.sim.uart_runner`).
"""

from __future__ import annotations

from pathlib import Path

from amaranth.hdl import Array, Cat, Const, DomainRenamer, Module, Mux, ResetInserter, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE
from amaranth.lib.fifo import AsyncFIFO, SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

# the result word's layout is the compiler's (bnn_hw.compiler.io_layout)
from ..compiler.microarch import index_width
from ..errors import BnnHwError
from ..intmath import ceil_div
from ..wire import CRC_BYTES, HEADER_BYTES, MAX_PAYLOAD, SYNC, Command, Info, Status
from .chain import payload_width
from .repack import Repack
from .uart import MIN_DIVISOR, UartRx, UartTx
from .verilog import write_verilog

__all__ = ["InferenceServer", "uart_divisor", "server_reserve", "write_server_verilog", "SERVER_TOPLEVEL"]

#: The Verilog module name :func:`write_server_verilog` gives the server.
SERVER_TOPLEVEL = "bnn_uart_top"

_FRAME_FIFO_DEPTH = 8   # words between the frame RAM and the pipeline
_TX_FIFO_DEPTH = 16     # reply bytes waiting for the transmitter


def uart_divisor(clock_hz: float, baud: int, tolerance: float = 0.02) -> int:
    """Clock cycles per bit for ``baud`` at ``clock_hz``: the nearest integer, at least 4.

    Raises :class:`~bnn_hw.errors.BnnHwError` when the achieved baud rate is off by more than
    ``tolerance`` (the receiver on the other end would misread bytes) or the clock is too slow.
    """
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise BnnHwError(f"a {clock_hz / 1e6:g} MHz clock is too slow for {baud} baud (at least "
                         f"{MIN_DIVISOR} clock cycles per bit); choose a lower baud rate")
    error = abs(clock_hz / divisor / baud - 1)
    if error > tolerance:
        raise BnnHwError(f"{baud} baud is {error:.1%} off at {clock_hz / 1e6:g} MHz ({divisor} cycles per "
                         f"bit); choose a baud rate that divides the clock more closely")
    return divisor


def server_reserve(input_type, block_ram) -> dict[str, int]:
    """The resources to keep free for the :class:`InferenceServer` around a pipeline whose frames
    are ``input_type`` (known before the folding is chosen, so ``--fit`` can leave room for it).

    Its logic, with the pipeline in a clock domain of its own (the ULX3S's default), measured 608
    LUT4, 44 CCU2C, 28 TRELLIS_DPR16X4 and 636 FF (``benchmarks/server_cost.py``: yosys
    ``synth_ecp5`` of the server around a 4-input, 10-class network, less that network; in one clock
    domain 504, 42, 14 and 400): reserved as 900 LUT4 and 700 FF. Its frame RAM holds one frame, and where the family has no LUT
    RAM (iCE40) its three FIFOs take a block each.
    """
    fifos = 0 if block_ram.lutram_cells_per_block else 3
    return {"lut4": 900, "ff": 700, "ebr": block_ram.blocks(8, ceil_div(input_type.bits, 8)) + fifos}


def _connect(m, source, sink):
    """Connect two streams; the sink's payload is at least as wide (zero-extended; layouts may differ)."""
    m.d.comb += [
        sink.valid.eq(source.valid),
        Value.cast(sink.payload).eq(Value.cast(source.payload)),
        source.ready.eq(sink.ready),
    ]


class InferenceServer(wiring.Component):
    """Serve INFO and INFER requests (:mod:`bnn_hw.wire`) for ``pipeline`` over a UART.

    Parameters
    ----------
    pipeline : wiring.Component
        The inference pipeline (``i`` stream of ``input_width``-bit words, ``o`` stream of one
        ``result_width``-bit word per frame: the class index, then the scores).
    input_words_per_frame, input_width : int
        Input words per frame and their width in bits; an INFER payload holds the words as
        ``ceil(input_width / 8)`` bytes each.
    result_width, classes, score_width : int
        The output word's width, and the classes and bits per score in it.
    design_id : int
        A 32-bit id reported by INFO (:func:`bnn_hw.compiler.io_layout.design_id` of the plan).
    divisor : int
        Clock cycles of the ``sync`` domain per bit (clock frequency / baud rate), at least 4.
    timeout_bits : int
        A request that gets no byte for this many bit times is answered TIMEOUT and forgotten.
    pipeline_domain : str
        The clock domain the pipeline runs in; other than ``"sync"``, the parent must define it.
    rx_fifo_depth : int
        Bytes buffered between the receiver and the parser.

    Attributes
    ----------
    rx : In(1), the serial input
    tx : Out(1), the serial output
    last_class : Out(index bits), the class of the most recent result
    status : Out(3), the status of the most recent reply (0 OK; an error LED: ``status != 0``)
    """

    def __init__(self, pipeline, input_words_per_frame, input_width, result_width, classes, score_width,
                 design_id, divisor, timeout_bits=1024, pipeline_domain="sync", rx_fifo_depth=64):
        self._pipeline = pipeline
        self._words = input_words_per_frame
        self._input_width, self._result_width = input_width, result_width
        self._domain = pipeline_domain
        self._divisor, self._timeout_bits, self._rx_fifo_depth = divisor, timeout_bits, rx_fifo_depth
        for name, value, high in (("input_words_per_frame", input_words_per_frame, MAX_PAYLOAD),
                                  ("input_width", input_width, None), ("result_width", result_width, None),
                                  ("classes", classes, 0xFF), ("score_width", score_width, 0xFF),
                                  ("timeout_bits", timeout_bits, None), ("rx_fifo_depth", rx_fifo_depth, None)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (high and value > high):
                raise ValueError(f"{name} must be an integer in 1..{high or 'inf'}, not {value!r}")
        if not isinstance(design_id, int) or not 0 <= design_id < 1 << 32:
            raise ValueError(f"design_id must be a 32-bit unsigned integer, not {design_id!r}")
        if not isinstance(pipeline_domain, str) or not pipeline_domain.isidentifier():
            raise ValueError(f"pipeline_domain must be a clock domain name, not {pipeline_domain!r}")
        if timeout_bits < 16:
            raise ValueError(f"timeout_bits must be at least 16 (longer than a byte), not {timeout_bits}")
        if result_width != index_width(classes) + classes * score_width:
            raise ValueError(f"result_width {result_width} is not the index ({index_width(classes)} bits) plus "
                             f"{classes} scores of {score_width} bits")
        if not isinstance(pipeline, wiring.Component):
            raise ValueError(f"pipeline must be a wiring.Component, not {pipeline!r}")
        widths = {port: payload_width(pipeline, port) for port in ("i", "o")}
        if widths != {"i": input_width, "o": result_width}:
            raise ValueError(f"the pipeline's payloads are {widths['i']} and {widths['o']} bits, not "
                             f"input_width {input_width} and result_width {result_width}")
        self._info = Info(input_words=input_words_per_frame, bytes_per_word=ceil_div(input_width, 8),
                          result_bytes=ceil_div(result_width, 8), classes=classes, score_width=score_width,
                          design_id=design_id)
        if self._info.frame_bytes > MAX_PAYLOAD:
            raise ValueError(f"a frame of {self._info.frame_bytes} bytes does not fit a request "
                             f"(at most {MAX_PAYLOAD})")
        self._uart_rx, self._uart_tx = UartRx(divisor), UartTx(divisor)   # (they check the divisor)
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "last_class": Out(index_width(classes)),
            "status": Out(3),
        })

    @classmethod
    def for_pipeline(cls, pipeline, info: Info, *, divisor, timeout_bits=1024, pipeline_domain="sync",
                     rx_fifo_depth=64) -> "InferenceServer":
        """The server for ``pipeline`` that answers INFO with ``info`` (for a compiled plan:
        :func:`~bnn_hw.compiler.io_layout.plan_info`); its word widths are the pipeline's payloads.

        Raises :class:`ValueError` when ``info`` does not describe those words.
        """
        server = cls(pipeline, info.input_words, payload_width(pipeline, "i"), payload_width(pipeline, "o"),
                     info.classes, info.score_width, info.design_id, divisor, timeout_bits, pipeline_domain,
                     rx_fifo_depth)
        if server.info != info:
            raise ValueError(f"the pipeline's words make the INFO table {server.info}, not {info}")
        return server

    @property
    def info(self) -> Info:
        """What the server answers to INFO."""
        return self._info

    def __repr__(self):
        return (f"InferenceServer(words={self._words}, input_width={self._input_width}, "
                f"result_width={self._result_width}, divisor={self._divisor}, "
                f"timeout_bits={self._timeout_bits}, pipeline_domain={self._domain!r})")

    def elaborate(self, platform):
        m = Module()
        info = self._info
        rx_fifo, tx_fifo = self._serial_ports(m)
        frame_fifo, result_bytes = self._pipeline_path(m)
        to_words, clear = self._frame_writer(m)
        streaming, streamed = self._frame_reader(m, frame_fifo)
        rx_crc = m.submodules.rx_crc = CRC16_CCITT_FALSE(data_width=8).create()

        byte, take = rx_fifo.r_data, Signal()
        m.d.comb += [rx_fifo.r_en.eq(take), rx_crc.data.eq(byte)]
        cmd, length, remaining = Signal(8), Signal(16), Signal(16)
        crc_low = Signal(8)
        store = Signal()   # this request's payload is a frame for the RAM

        # Timeout: bit times without a byte while a request is half received.
        limit = self._timeout_bits * self._divisor
        idle, mid_request, timed_out = Signal(range(limit + 1)), Signal(), Signal()
        m.d.comb += timed_out.eq(idle == limit)
        with m.If(~mid_request | take):
            m.d.sync += idle.eq(0)
        with m.Elif(~rx_fifo.r_rdy):
            m.d.sync += idle.eq(idle + 1)

        reply_status, reply_info = Signal(3), Signal()
        reply_len = Signal(range(max(info.SIZE, info.result_bytes) + 1))
        pos = Signal(range(HEADER_BYTES + max(info.SIZE, info.result_bytes) + CRC_BYTES))

        def reply(status, *, info_payload=False, payload_bytes=0):
            m.d.sync += [reply_status.eq(status), reply_info.eq(info_payload), reply_len.eq(payload_bytes),
                         pos.eq(0)]
            m.next = "REPLY"

        def receiving(ready=1):
            """In a state that waits for a request byte: take one when it is there (and ``ready``);
            answer TIMEOUT when none comes."""
            m.d.comb += [mid_request.eq(1), take.eq(rx_fifo.r_rdy & ready & ~timed_out)]
            with m.If(timed_out):
                reply(Status.TIMEOUT)

        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += [take.eq(rx_fifo.r_rdy), rx_crc.start.eq(1)]
                with m.If(take & (byte == SYNC)):
                    m.next = "CMD"
            with m.State("CMD"):
                receiving()
                m.d.comb += rx_crc.valid.eq(take)
                with m.If(take):
                    m.d.sync += cmd.eq(byte)
                    m.next = "LEN_LOW"
            with m.State("LEN_LOW"):
                receiving()
                m.d.comb += rx_crc.valid.eq(take)
                with m.If(take):
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LEN_HIGH"
            with m.State("LEN_HIGH"):
                receiving()
                m.d.comb += rx_crc.valid.eq(take)
                full = Cat(length[:8], byte)
                with m.If(take):
                    m.d.comb += clear.eq(1)
                    m.d.sync += [length[8:].eq(byte), remaining.eq(full),
                                 store.eq((cmd == Command.INFER) & (full == info.frame_bytes))]
                    m.next = "PAYLOAD"
                    with m.If(full == 0):
                        m.next = "CRC_LOW"
            with m.State("PAYLOAD"):
                receiving(~store | to_words.i.ready)
                m.d.comb += [
                    to_words.i.valid.eq(rx_fifo.r_rdy & store & ~timed_out),
                    to_words.i.payload.eq(byte),
                    rx_crc.valid.eq(take),
                ]
                with m.If(take):
                    m.d.sync += remaining.eq(remaining - 1)
                    with m.If(remaining == 1):
                        m.next = "CRC_LOW"
            with m.State("CRC_LOW"):
                receiving()
                with m.If(take):
                    m.d.sync += crc_low.eq(byte)
                    m.next = "CRC_HIGH"
            with m.State("CRC_HIGH"):
                receiving()
                with m.If(take):
                    with m.If(Cat(crc_low, byte) != rx_crc.crc):
                        reply(Status.BAD_CRC)
                    with m.Elif(cmd == Command.INFO):
                        with m.If(length == 0):
                            reply(Status.OK, info_payload=True, payload_bytes=info.SIZE)
                        with m.Else():
                            reply(Status.BAD_LENGTH)
                    with m.Elif(cmd == Command.INFER):
                        with m.If(length == info.frame_bytes):
                            m.d.comb += streaming.eq(1)
                            m.next = "STREAM"
                        with m.Else():
                            reply(Status.BAD_LENGTH)
                    with m.Else():
                        reply(Status.UNKNOWN_COMMAND)
            with m.State("STREAM"):
                with m.If(streamed):
                    m.next = "RESULT"
            with m.State("RESULT"):
                with m.If(result_bytes.o.valid):
                    reply(Status.OK, payload_bytes=info.result_bytes)
            with m.State("REPLY"):
                with m.If(self._reply_writer(m, tx_fifo, result_bytes, reply_status, reply_info, reply_len, pos)):
                    m.d.sync += self.status.eq(reply_status)
                    m.next = "SYNC"
        return m

    def _serial_ports(self, m):
        """The receiver and transmitter with their byte FIFOs; returns ``(rx_fifo, tx_fifo)``."""
        m.submodules.uart_rx = uart_rx = self._uart_rx
        m.submodules.uart_tx = uart_tx = self._uart_tx
        m.submodules.rx_fifo = rx_fifo = SyncFIFOBuffered(width=8, depth=self._rx_fifo_depth)
        m.submodules.tx_fifo = tx_fifo = SyncFIFOBuffered(width=8, depth=_TX_FIFO_DEPTH)
        m.d.comb += [
            uart_rx.rx.eq(self.rx),
            self.tx.eq(uart_tx.tx),
            rx_fifo.w_en.eq(uart_rx.o.valid),   # a byte that finds the FIFO full is lost
            rx_fifo.w_data.eq(uart_rx.o.payload),
        ]
        _connect(m, tx_fifo.r_stream, uart_tx.i)
        return rx_fifo, tx_fifo

    def _pipeline_path(self, m):
        """The pipeline between a frame FIFO and a result-to-bytes Repack, through AsyncFIFOs when it
        has a clock domain of its own; returns ``(frame_fifo, result_bytes)``. Updates ``last_class``."""
        if self._domain == "sync":
            m.submodules.pipeline = pipeline = self._pipeline
            m.submodules.frame_fifo = frame_fifo = SyncFIFOBuffered(width=self._input_width,
                                                                    depth=_FRAME_FIFO_DEPTH)
            result, frames = pipeline.o, frame_fifo.r_stream
        else:
            m.submodules.pipeline = DomainRenamer({"sync": self._domain})(self._pipeline)
            pipeline = self._pipeline
            m.submodules.frame_fifo = frame_fifo = AsyncFIFO(width=self._input_width, depth=_FRAME_FIFO_DEPTH,
                                                             w_domain="sync", r_domain=self._domain)
            m.submodules.result_fifo = result_fifo = AsyncFIFO(width=self._result_width, depth=4,
                                                               w_domain=self._domain, r_domain="sync")
            result = result_fifo.r_stream
            # two-word buffers in the pipeline's domain between the crossings' pointer logic and the
            # pipeline's ends: without them the pipeline's ready reached the frame FIFO's read pointer
            # in the same cycle (7.7 ns, the core's critical path at 150 MHz), and the result FIFO's
            # write pointer reached the argmax head's credit counter (8.4 ns)
            buffers = {}
            for end, width in (("frame", self._input_width), ("result", self._result_width)):
                buffers[end] = m.submodules[f"{end}_buffer"] = DomainRenamer(self._domain)(
                    SyncFIFOBuffered(width=width, depth=2))
            _connect(m, frame_fifo.r_stream, buffers["frame"].w_stream)
            frames = buffers["frame"].r_stream
            _connect(m, pipeline.o, buffers["result"].w_stream)
            _connect(m, buffers["result"].r_stream, result_fifo.w_stream)
        _connect(m, frames, pipeline.i)
        # the result zero-extended to whole bytes, so the gearbox only sends slices of a held word
        m.submodules.result_bytes = result_bytes = Repack(self._result_width, 8 * self._info.result_bytes, 8)
        _connect(m, result, result_bytes.i)
        with m.If(result_bytes.i.valid & result_bytes.i.ready):
            m.d.sync += self.last_class.eq(Value.cast(result_bytes.i.payload)[:len(self.last_class)])
        return frame_fifo, result_bytes

    def _frame_writer(self, m):
        """Request payload bytes to words, written to the frame RAM from address 0 after each pulse
        of ``clear``; returns ``(to_words, clear)``."""
        width = self._input_width
        m.submodules.frame = frame = Memory(shape=width, depth=self._words, init=[])
        write = frame.write_port()
        clear = Signal()
        # bytes assembled into whole-byte words, of which the RAM keeps the low ``width`` bits
        to_words = Repack(width, 8, 8 * self._info.bytes_per_word)
        m.submodules.to_words = ResetInserter(clear)(to_words)
        addr = Signal(range(self._words))
        m.d.comb += [
            to_words.o.ready.eq(1),
            write.en.eq(to_words.o.valid),
            write.addr.eq(addr),
            write.data.eq(to_words.o.payload),
        ]
        with m.If(clear):
            m.d.sync += addr.eq(0)
        with m.Elif(to_words.o.valid):
            m.d.sync += addr.eq(addr + 1)
        return to_words, clear

    def _frame_reader(self, m, frame_fifo):
        """Stream the frame RAM into ``frame_fifo`` after a pulse of ``start``, issuing a read only
        while the FIFO has room for it; returns ``(start, done)`` (``done`` stays high afterwards)."""
        words = self._words
        read = m.submodules.frame.read_port()
        start, pending, issue = Signal(), Signal(), Signal()
        addr = Signal(range(words + 1), init=words)
        m.d.comb += [
            issue.eq((addr != words) & (frame_fifo.w_level + pending < frame_fifo.depth)),
            read.addr.eq(addr),
            read.en.eq(issue),
            frame_fifo.w_en.eq(pending),
            frame_fifo.w_data.eq(read.data),
        ]
        m.d.sync += pending.eq(issue)
        with m.If(start):
            m.d.sync += addr.eq(0)
        with m.Elif(issue):
            m.d.sync += addr.eq(addr + 1)
        done = Signal()
        m.d.comb += done.eq(~start & (addr == words) & ~pending)
        return start, done

    def _reply_writer(self, m, tx_fifo, result_bytes, status, info_payload, length, pos):
        """Comb logic (inside the reply state) putting reply byte ``pos`` into ``tx_fifo``: SYNC,
        ``status``, ``length`` (2), the INFO table or the result bytes, CRC (2). Returns a signal that
        is high when the last byte goes."""
        m.submodules.tx_crc = tx_crc = CRC16_CCITT_FALSE(data_width=8).create()
        info_table = Array(Const(b, 8) for b in self._info.to_bytes())
        end = HEADER_BYTES + length          # the first CRC byte
        in_payload = (pos >= HEADER_BYTES) & (pos < end)
        from_result = in_payload & ~info_payload
        out, send, last = Signal(8), Signal(), Signal()
        with m.If(pos == 0):
            m.d.comb += out.eq(SYNC)
        with m.Elif(pos == 1):
            m.d.comb += out.eq(status)
        with m.Elif(pos == 2):
            m.d.comb += out.eq(length[:8])
        with m.Elif(pos == 3):
            m.d.comb += out.eq(length >> 8)
        with m.Elif(in_payload):
            m.d.comb += out.eq(Mux(info_payload, info_table[(pos - HEADER_BYTES)[:len(length)]],
                                   result_bytes.o.payload))
        with m.Elif(pos == end):
            m.d.comb += out.eq(tx_crc.crc[:8])
        with m.Else():
            m.d.comb += out.eq(tx_crc.crc[8:])
        m.d.comb += [
            send.eq(tx_fifo.w_rdy & (~from_result | result_bytes.o.valid)),
            tx_fifo.w_en.eq(send),
            tx_fifo.w_data.eq(out),
            result_bytes.o.ready.eq(send & from_result),
            tx_crc.start.eq(send & (pos == 0)),
            tx_crc.valid.eq(send & (pos != 0) & (pos < end)),
            tx_crc.data.eq(out),
            last.eq(send & (pos == end + CRC_BYTES - 1)),
        ]
        with m.If(send):
            m.d.sync += pos.eq(pos + 1)
        return last


def write_server_verilog(server: InferenceServer, path: str | Path, *, name: str = SERVER_TOPLEVEL) -> Path:
    """Write ``server`` to ``path`` as a Verilog module called ``name`` with ports ``clk``, ``rst``,
    ``rx``, ``tx``, ``last_class`` and ``status``."""
    return write_verilog(server, path, name)
