"""``bnn-hw run`` end to end on the host side: a pseudo-terminal stands in for the board's serial
port, answered by a model of the device built from the wire format, the plan's INFO table and the
compiled pipeline in the Amaranth simulator (:class:`~simulated_board.SimulatedPipeline`: the bytes of
each INFER go through the pipeline, not the NumPy reference), so "board == NumPy reference" compares
the hardware's classes, as the host receives and decodes them, with the reference's."""

import os
import threading
import tty

import pytest

import bnn_hw
from bnn_hw import wire
from bnn_hw.cli import main
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.io_layout import encode_frame
from bnn_hw.compiler.microarch import index_width
from bnn_hw.datasets import digits
from conftest import random_mlp
from simulated_board import SimulatedPipeline

IMAGES = 12


def _serve(fd, board, stop):
    """Answer requests on ``fd`` as the gateware would (requests share the replies' framing)."""
    parser = wire.ReplyParser()
    while not stop.is_set():
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        for request in parser.feed(data):
            if int(request.status) == wire.Command.INFO:
                reply = wire.encode_reply(wire.Status.OK, board.info.to_bytes())
            elif int(request.status) == wire.Command.INFER and len(request.payload) == board.info.frame_bytes:
                reply = wire.encode_reply(wire.Status.OK, board.result(request.payload))
            else:
                reply = wire.encode_reply(wire.Status.BAD_LENGTH)
            os.write(fd, reply)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A small untrained network on the 8x8 digits (64 pixels, 10 classes): the CLI sends the test
    split's images, and the pipeline is quick to simulate."""
    path = tmp_path_factory.mktemp("model") / "digits.pt"
    bnn_hw.save(random_mlp(64, [16], 10, thresholds=(100,), seed=1), path)
    return str(path)


@pytest.fixture(scope="module")
def board(model_path):
    plan = compile_model(bnn_hw.load(model_path))
    board = SimulatedPipeline(plan)
    board.prime(encode_frame(plan, frame) for frame in digits("test")[0][:IMAGES])   # one run for all
    return board


@pytest.fixture
def fake_board(board):
    controller, device = os.openpty()
    tty.setraw(device)
    tty.setraw(controller)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(controller, board, stop), daemon=True)
    thread.start()
    yield os.ttyname(device)
    stop.set()
    os.close(device)
    os.close(controller)


def test_run_classifies_over_the_serial_port(model_path, board, fake_board, capsys):
    assert main(["run", model_path, "--port", fake_board, "--images", str(IMAGES), "--show", "3"]) == 0
    out = capsys.readouterr().out
    assert "board == NumPy reference: 100.00% of frames" in out
    assert "frame 2: class" in out and "accuracy:" in out and "frames/s over the serial link" in out
    # the board's answers came from the pipeline, and they are not all one class
    classes = board.plan.predict(digits("test")[0][:IMAGES])[0]
    assert board.simulated >= IMAGES and len(set(classes)) > 1
    assert f"frame 2: class {classes[2]} (label " in out


def test_run_says_when_the_board_disagrees_with_the_reference(model_path, board, fake_board, capsys,
                                                              monkeypatch):
    """A board that answers one frame with another class: the run reports it and exits 1."""
    payload = encode_frame(board.plan, digits("test")[0][5])
    word, bits = int.from_bytes(board.result(payload), "little"), index_width(board.info.classes)
    cls = word & ((1 << bits) - 1)
    wrong = (word >> bits << bits) | (cls + 1) % board.info.classes
    monkeypatch.setitem(board._answers, payload, wrong.to_bytes(board.info.result_bytes, "little"))
    assert main(["run", model_path, "--port", fake_board, "--images", str(IMAGES), "--show", "0"]) == 1
    assert f"board == NumPy reference: {(IMAGES - 1) / IMAGES:.2%} of frames" in capsys.readouterr().out


def test_run_without_a_port_is_one_line(model_path, capsys):
    assert main(["run", model_path, "--port", "/dev/does-not-exist", "--images", "1"]) == 2
    assert "cannot open /dev/does-not-exist" in capsys.readouterr().err
