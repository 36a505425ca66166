"""The UART inference server (:mod:`bnn_hw.hdl.uart_server`) in the Amaranth simulator, driven bit by
bit through its rx pin and answered through its tx pin, with the requests and replies of
:mod:`bnn_hw.wire` and the payloads of :mod:`bnn_hw.compiler.io_layout`."""

import random
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module

from bnn_hw.compiler.folding import Fold
from bnn_hw.compiler.io_layout import (decode_infer_reply, design_id, encode_frame, input_word_bits, plan_info,
                                       result_bits)
from bnn_hw.hdl.pipeline import build_pipeline, payload_width
from bnn_hw.compiler import compile_model
from bnn_hw.errors import BnnHwError
from bnn_hw.hdl.uart_server import InferenceServer, uart_divisor, write_server_verilog
from bnn_hw.wire import Command, Info, Status, encode_request
from conftest import random_cnn, random_mlp
from stream_testing import assert_rejects, elaborated
from uart_testing import CLOCK, SimHost, simulate

DIVISOR = 4
TIMEOUT_BITS = 40


@pytest.fixture(scope="module")
def pixel_plan():
    """8-bit pixels, 4 per 32-bit word, 4 words per frame (the last one padded)."""
    return compile_model(random_mlp(13, [9], 3, thresholds=(60, 180), seed=3), {"thermometer0": Fold(1, 4)})


@pytest.fixture(scope="module")
def bit_plan():
    """Bit vectors of 7 bits per word (one byte each, the top bit padding), 5 words per frame."""
    return compile_model(random_mlp(30, [11], 5, thresholds=(), seed=4), {"dense0": Fold(11, 7)})


def _server(plan, **options):
    """The server around ``plan``'s pipeline, answering INFO for ``plan``."""
    return InferenceServer.for_pipeline(build_pipeline(plan), plan_info(plan), **options)


def _frames(plan, count, seed=0):
    high = 256 if plan.input_type.kind.value == "uint8" else 2
    return np.random.default_rng(seed).integers(0, high, (count, plan.input_type.size), dtype=np.uint8)


class _WithPipelineClock(Elaboratable):
    """The server with its pipeline in a clock domain ``pipe`` of its own."""

    def __init__(self, server):
        self.server = server

    def elaborate(self, platform):
        m = Module()
        m.domains.pipe = ClockDomain("pipe")
        m.submodules.server = self.server
        return m


def _serve(server, script, *, pipe_clock=None, background=()):
    """Run ``script(ctx, host)`` against ``server`` (its pipeline on ``pipe_clock`` if given), with
    more ``background`` processes."""
    host = SimHost(server.rx, server.tx, DIVISOR)
    clocks = [("sync", CLOCK)]
    dut = server
    if pipe_clock is not None:
        clocks.append(("pipe", pipe_clock))
        dut = _WithPipelineClock(server)

    async def bench(ctx):
        await ctx.tick().repeat(5)
        await script(ctx, host)

    simulate(dut, bench, background=[host.listener.run, *background], clocks=clocks)


async def _infer_and_check(ctx, host, plan, frames):
    """INFER every frame; the replies must equal the NumPy reference."""
    classes, scores = plan.predict(frames)
    for frame, cls, score in zip(frames, classes, scores):
        reply = await host.exchange(ctx, encode_request(Command.INFER, encode_frame(plan, frame)))
        assert reply.status == Status.OK
        got_class, got_scores = decode_infer_reply(plan, reply.payload)
        assert got_class == cls
        assert np.array_equal(got_scores, score)


@pytest.mark.parametrize("which", ["pixel_plan", "bit_plan"])
def test_info_and_inference_match_the_reference(request, which):
    plan = request.getfixturevalue(which)
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)
    frames = _frames(plan, 6)

    async def script(ctx, host):
        reply = await host.exchange(ctx, encode_request(Command.INFO))
        assert reply.status == Status.OK
        assert Info.from_bytes(reply.payload) == plan_info(plan) == server.info
        assert server.info.design_id == design_id(plan)
        await _infer_and_check(ctx, host, plan, frames)
        assert ctx.get(server.last_class) == plan.predict(frames[-1:])[0][0]
        assert ctx.get(server.status) == Status.OK

    _serve(server, script)


def test_corrupted_frame_gets_bad_crc_and_never_reaches_the_pipeline(pixel_plan):
    plan = pixel_plan
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)
    frames = _frames(plan, 3, seed=1)
    words_in = []

    async def count_pipeline_input(ctx):
        pipe_in = server._pipeline.i
        async for _, _, valid, ready in ctx.tick().sample(pipe_in.valid, pipe_in.ready):
            if valid and ready:
                words_in.append(1)

    async def script(ctx, host):
        await _infer_and_check(ctx, host, plan, frames[:1])
        bad = bytearray(encode_request(Command.INFER, encode_frame(plan, frames[1])))
        bad[7] ^= 0x10
        reply = await host.exchange(ctx, bytes(bad))
        assert (reply.status, reply.payload) == (Status.BAD_CRC, b"")
        assert ctx.get(server.status) == Status.BAD_CRC
        assert len(words_in) == server.info.input_words    # the first frame's words only
        await _infer_and_check(ctx, host, plan, frames[2:])
        assert len(words_in) == 2 * server.info.input_words

    _serve(server, script, background=[count_pipeline_input])


def test_error_replies_and_recovery(bit_plan):
    plan = bit_plan
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)
    frames = _frames(plan, 2, seed=2)
    payload = encode_frame(plan, frames[0])

    async def script(ctx, host):
        cases = [
            (encode_request(Command.INFER, payload[:-1]), Status.BAD_LENGTH),
            (encode_request(Command.INFER, payload + b"\0"), Status.BAD_LENGTH),
            (encode_request(Command.INFER), Status.BAD_LENGTH),
            (encode_request(Command.INFO, b"\x01"), Status.BAD_LENGTH),
            (encode_request(0x07, payload), Status.UNKNOWN_COMMAND),
            (encode_request(0x00), Status.UNKNOWN_COMMAND),
        ]
        for request, status in cases:
            reply = await host.exchange(ctx, request)
            assert (reply.status, reply.payload) == (status, b"")
            await _infer_and_check(ctx, host, plan, frames[:1])
        # bytes before a request's SYNC are skipped
        await host.write(ctx, bytes([0x00, 0xFF, 0x12]))
        await _infer_and_check(ctx, host, plan, frames[1:])

    _serve(server, script)


def test_a_request_longer_than_the_frame_memory_gets_bad_length(pixel_plan):
    """INFER payloads of a word more than the frame RAM holds, of three frames, and of more bytes than
    the receive FIFO holds: each is read to its end and answered BAD_LENGTH; no word reaches the
    pipeline, and the next frame is answered right (none of the long payload was left in the RAM).
    A header announcing 65535 bytes that never come is answered TIMEOUT."""
    plan = pixel_plan
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS, rx_fifo_depth=16)
    frames = _frames(plan, 4, seed=6)
    frame_bytes, word_bytes = server.info.frame_bytes, server.info.bytes_per_word
    words_in = []

    async def count_pipeline_input(ctx):
        pipe_in = server._pipeline.i
        async for _, _, valid, ready in ctx.tick().sample(pipe_in.valid, pipe_in.ready):
            if valid and ready:
                words_in.append(1)

    async def script(ctx, host):
        for k, length in enumerate((frame_bytes + word_bytes, 3 * frame_bytes, 40)):
            payload = b"".join(encode_frame(plan, f) for f in frames[k:k + 3])
            payload = (payload * 3)[:length]
            reply = await host.exchange(ctx, encode_request(Command.INFER, payload))
            assert (reply.status, reply.payload) == (Status.BAD_LENGTH, b"")
            assert ctx.get(server.status) == Status.BAD_LENGTH
            assert words_in == []
        await host.write(ctx, bytes([0xB5, Command.INFER, 0xFF, 0xFF]))
        assert (await host.reply(ctx)).status == Status.TIMEOUT
        await _infer_and_check(ctx, host, plan, frames[3:])
        assert len(words_in) == server.info.input_words

    _serve(server, script, background=[count_pipeline_input])


@pytest.fixture(scope="module")
def slow_plan():
    """The pixel network with its first layer one product per cycle: a frame takes about 250 cycles
    in the pipeline, six byte times of the line."""
    return compile_model(random_mlp(13, [9], 3, thresholds=(60, 180), seed=3),
                         {"thermometer0": Fold(1, 4), "dense1": Fold(1, 1)})


@pytest.mark.parametrize("which", ["pixel_plan", "slow_plan"])
def test_back_to_back_requests_are_all_answered(request, which):
    """Requests sent one right after another, without waiting for replies: INFO, frames, a corrupted
    frame, an unknown command, more frames; every reply comes, in order, and every result is the
    reference's. With the slow pipeline the next request's bytes arrive while a frame is computed
    (and while an INFO reply, longer than the transmit FIFO, is sent) and wait in the receive FIFO."""
    plan = request.getfixturevalue(which)
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)
    frames = _frames(plan, 8, seed=7)
    classes, scores = plan.predict(frames)
    corrupted = bytearray(encode_request(Command.INFER, encode_frame(plan, frames[0])))
    corrupted[6] ^= 0x04
    requests = ([encode_request(Command.INFO)]
                + [encode_request(Command.INFER, encode_frame(plan, f)) for f in frames[:4]]
                + [bytes(corrupted), encode_request(0x09)]
                + [encode_request(Command.INFER, encode_frame(plan, f)) for f in frames[4:]])
    expected = ([Status.OK] + [Status.OK] * 4 + [Status.BAD_CRC, Status.UNKNOWN_COMMAND] + [Status.OK] * 4)
    assert sum(map(len, requests)) > 64     # more bytes in all than the receive FIFO holds
    computing = []                          # cycles from each frame's first word in to its result out

    async def time_the_pipeline(ctx):
        pipe, cycle, start = server._pipeline, 0, None
        async for _, _, i_valid, i_ready, o_valid, o_ready in ctx.tick().sample(
                pipe.i.valid, pipe.i.ready, pipe.o.valid, pipe.o.ready):
            cycle += 1
            if start is None and i_valid and i_ready:
                start = cycle
            if o_valid and o_ready:
                computing.append(cycle - start)
                start = None

    async def script(ctx, host):
        await host.write(ctx, b"".join(requests))
        assert len(host.listener.received) > 9, "the replies did not overlap the requests"
        replies = await host.replies(ctx, len(requests), max_cycles=40_000)   # a lost reply fails here
        assert [r.status for r in replies] == expected
        assert Info.from_bytes(replies[0].payload) == plan_info(plan)
        results = [decode_infer_reply(plan, r.payload) for r in replies[1:5] + replies[7:]]
        assert [c for c, _ in results] == list(classes)
        assert all(np.array_equal(got, want) for (_, got), want in zip(results, scores))
        await host.settle(ctx, TIMEOUT_BITS + 20)
        assert host.drain() == []                 # nothing more: one reply per request
        assert len(computing) == 8
        if which == "slow_plan":                  # several bytes of the next request came meanwhile
            assert min(computing) > 5 * 10 * DIVISOR

    _serve(server, script, background=[time_the_pipeline])


def test_truncated_request_times_out_and_the_next_one_works(pixel_plan):
    plan = pixel_plan
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)
    frames = _frames(plan, 1, seed=3)
    request = encode_request(Command.INFER, encode_frame(plan, frames[0]))

    async def script(ctx, host):
        for cut in (1, 3, 9, len(request) - 1):    # in the header, the payload, the CRC
            await host.write(ctx, request[:cut])
            reply = await host.reply(ctx)
            assert (reply.status, reply.payload) == (Status.TIMEOUT, b"")
            assert ctx.get(server.status) == Status.TIMEOUT
            await _infer_and_check(ctx, host, plan, frames)

    _serve(server, script)


def test_timeout_waits_for_the_configured_silence(pixel_plan):
    """The TIMEOUT reply starts no earlier than ``timeout_bits`` bit times after the last byte."""
    plan = pixel_plan
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)

    async def script(ctx, host):
        await host.write(ctx, encode_request(Command.INFO)[:2])
        cycles = 0
        while not host.listener.starts:
            await ctx.tick()
            cycles += 1
        # the receiver takes a byte half a stop bit before the host has finished sending it
        limit = TIMEOUT_BITS * DIVISOR
        assert limit - DIVISOR <= cycles <= limit + 20
        assert (await host.reply(ctx)).status == Status.TIMEOUT

    _serve(server, script)


def test_random_garbage_never_hangs_the_server(bit_plan):
    """Whatever arrives, after a quiet timeout the next good request is served."""
    plan = bit_plan
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)
    frames = _frames(plan, 3, seed=4)
    rng = random.Random(7)

    async def script(ctx, host):
        good = encode_request(Command.INFER, encode_frame(plan, frames[0]))
        for garbage in ([0xB5] + rng.choices(range(256), k=30),
                        [0xB5, Command.INFER, 0xFF, 0xFF] + rng.choices(range(256), k=10),
                        list(good[:-3]) + [0xB5, 0x01]):
            await host.write(ctx, bytes(garbage))
            await host.settle(ctx, TIMEOUT_BITS + 20)
            assert all(reply.status != Status.OK for reply in host.drain())
            await _infer_and_check(ctx, host, plan, frames[1:])

    _serve(server, script)


@pytest.mark.parametrize("pipe_clock", [0.37 * CLOCK, 2.9 * CLOCK], ids=["faster", "slower"])
def test_pipeline_in_its_own_clock_domain(pixel_plan, pipe_clock):
    """Frames and results cross through AsyncFIFOs to a pipeline on a faster or slower clock."""
    plan = pixel_plan
    server = _server(plan, divisor=DIVISOR, timeout_bits=TIMEOUT_BITS, pipeline_domain="pipe")
    frames = _frames(plan, 4, seed=5)

    async def script(ctx, host):
        await _infer_and_check(ctx, host, plan, frames[:2])
        bad = bytearray(encode_request(Command.INFER, encode_frame(plan, frames[2])))
        bad[-1] ^= 1
        assert (await host.exchange(ctx, bytes(bad))).status == Status.BAD_CRC
        await _infer_and_check(ctx, host, plan, frames[2:])

    _serve(server, script, pipe_clock=pipe_clock)


def test_the_io_layout_agrees_with_the_pipeline_on_every_input_kind():
    """The I/O layout's words are the pipeline's for pixels, bit vectors and images."""
    plans = [
        compile_model(random_mlp(23, [37], 10, seed=5), {"thermometer0": Fold(1, 5)}),
        compile_model(random_mlp(30, [17], 6, seed=4, thresholds=())),
        compile_model(random_cnn(image=(2, 6, 7), convs=((4, 3, 1, 1, 0, 1),), hidden=(4,), thresholds=(),
                                 pixels=True, seed=3)),
        compile_model(random_cnn(image=(2, 8, 6), convs=((3, 3, 1, 0, -1, 1),), hidden=(), thresholds=(),
                                 seed=3)),
    ]
    for plan in plans:
        server = elaborated(_server(plan, divisor=8))
        pipeline = server._pipeline
        assert (payload_width(pipeline, "i"), payload_width(pipeline, "o")) == (input_word_bits(plan),
                                                                                result_bits(plan))
        assert server.info.bytes_per_word == -(-payload_width(pipeline, "i") // 8)
        assert server.info.result_bytes == -(-payload_width(pipeline, "o") // 8)
        assert len(encode_frame(plan, _frames(plan, 1)[0])) == server.info.frame_bytes


def test_design_id_follows_the_weights_not_the_inner_folding():
    model = random_mlp(13, [9], 3, thresholds=(60, 180), seed=3)
    base = compile_model(model)
    assert design_id(base) == design_id(compile_model(model))
    assert design_id(base) == design_id(compile_model(model, {"dense1": Fold(3, 5)}))
    assert design_id(base) != design_id(compile_model(model, {"thermometer0": Fold(1, 2)}))
    assert design_id(base) != design_id(compile_model(random_mlp(13, [9], 3, thresholds=(60, 180), seed=4)))
    assert 0 <= design_id(base) < 1 << 32


def test_rejects_bad_arguments(pixel_plan):
    def make(**changes):
        pipeline = build_pipeline(pixel_plan)
        args = dict(pipeline=pipeline, input_words_per_frame=4, input_width=payload_width(pipeline, "i"),
                    result_width=payload_width(pipeline, "o"), classes=3, score_width=5, design_id=1,
                    divisor=8)
        args.update(changes)
        return InferenceServer(**args)

    assert_rejects(make, divisor=3, match="divisor")
    assert_rejects(make, design_id=1 << 32, match="design_id")
    assert_rejects(make, design_id=-1, match="design_id")
    assert_rejects(make, timeout_bits=8, match="timeout_bits")
    assert_rejects(make, classes=4, match="result_width")
    assert_rejects(make, input_width=31, match="payloads")
    assert_rejects(make, input_words_per_frame=0, match="input_words_per_frame")
    assert_rejects(make, input_words_per_frame=20_000, match="does not fit")
    assert_rejects(make, pipeline_domain="not a domain", match="pipeline_domain")
    info = plan_info(pixel_plan)
    for wrong in (replace(info, bytes_per_word=5), replace(info, result_bytes=2), replace(info, classes=4)):
        assert_rejects(lambda: InferenceServer.for_pipeline(build_pipeline(pixel_plan), wrong, divisor=8))


def test_server_verilog_has_the_board_ports(tmp_path, bit_plan):
    text = write_server_verilog(_server(bit_plan, divisor=8), tmp_path / "top.v").read_text()
    assert "module bnn_uart_top(" in text
    for port in ("input clk", "input rst", "input rx", "output tx", "output [2:0] last_class",
                 "output [2:0] status"):
        assert port in text, port


def test_uart_divisor():
    assert uart_divisor(100e6, 3_000_000) == 33          # 1.0% fast
    assert uart_divisor(25e6, 1_000_000) == 25
    assert uart_divisor(25e6, 115_200) == 217
    with pytest.raises(BnnHwError, match="4.2% off"):
        uart_divisor(25e6, 3_000_000)                     # 8 cycles per bit: 3.125 Mbaud
    with pytest.raises(BnnHwError, match="too slow"):
        uart_divisor(10e6, 3_000_000)
