"""The whole UART inference server in cocotb + Verilator, driven over its serial pins by the host's
exchange (:func:`bnn_hw.wire.exchange`): the shipped MLP on real Fashion-MNIST test images, and
corrupted requests."""

from pathlib import Path

import numpy as np
import pytest

import bnn_hw
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.compiler.io_layout import decode_infer_reply, encode_frame, plan_info
from bnn_hw.wire import Command, Info, Status, encode_request
from bnn_hw.sim.uart_runner import simulate_uart

#: The whole-board simulation takes minutes: the full tier.
pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).parent.parent / "examples" / "fmnist_mlp" / "net.pt"
IMAGES = 20
CORRUPTED_AT = 10   # the corrupted copy of image 10 goes just before image 10 itself


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """One simulation of the shipped MLP: INFO, 20 test images with a corrupted copy of image 10 sent
    just before it, then a request of the wrong length; returns ``(plan, frames, replies)``."""
    plan = compile_model(bnn_hw.load(SHIPPED))
    images, _ = fashion_mnist("test")
    frames = images[:IMAGES]
    infer = [encode_request(Command.INFER, encode_frame(plan, f)) for f in frames]
    corrupted = bytearray(infer[CORRUPTED_AT])
    corrupted[400] ^= 0x04                        # one pixel bit flipped on the way
    requests = ([encode_request(Command.INFO)] + infer[:CORRUPTED_AT] + [bytes(corrupted)]
                + infer[CORRUPTED_AT:] + [encode_request(Command.INFER, bytes(10))])
    replies = simulate_uart(plan, requests, divisor=4, build_dir=tmp_path_factory.mktemp("uart"))
    assert len(replies) == len(requests)
    return plan, frames, replies


def test_info_reply(shipped):
    plan, _, replies = shipped
    assert replies[0].status == Status.OK
    assert Info.from_bytes(replies[0].payload) == plan_info(plan)


def test_every_reply_equals_the_reference_on_fashion_mnist(shipped):
    plan, frames, replies = shipped
    inferred = replies[1:1 + CORRUPTED_AT] + replies[2 + CORRUPTED_AT:2 + IMAGES]
    assert len(inferred) == IMAGES
    classes, scores = plan.predict(frames)
    for k, reply in enumerate(inferred):
        assert reply.status == Status.OK, f"image {k}"
        got_class, got_scores = decode_infer_reply(plan, reply.payload)
        assert got_class == classes[k], f"image {k}"
        assert np.array_equal(got_scores, scores[k]), f"image {k}"


def test_corrupted_frame_then_good_frame(shipped):
    plan, frames, replies = shipped
    bad, good = replies[1 + CORRUPTED_AT], replies[2 + CORRUPTED_AT]
    assert (bad.status, bad.payload) == (Status.BAD_CRC, b"")
    classes, scores = plan.predict(frames[CORRUPTED_AT:CORRUPTED_AT + 1])
    assert good.status == Status.OK
    got_class, got_scores = decode_infer_reply(plan, good.payload)
    assert got_class == classes[0] and np.array_equal(got_scores, scores[0])


def test_wrong_length(shipped):
    _, _, replies = shipped
    assert (replies[-1].status, replies[-1].payload) == (Status.BAD_LENGTH, b"")
