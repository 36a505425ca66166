"""``bnn-hw run`` end to end on the host side: a pseudo-terminal stands in for the board's serial
port, answered by a model of the device built from the wire format, the plan's I/O layout and the NumPy
reference."""

import os
import threading
import tty

import pytest

from bnn_hw import wire
from bnn_hw.cli import main
from bnn_hw.compiler.io_layout import encode_frame, plan_info, result_bits
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from bnn_hw.hdl.argmax import index_width
from bnn_hw.model_file import load

MLP = os.path.join(os.path.dirname(__file__), "..", "examples", "fmnist_mlp", "net.pt")


def _serve(fd, plan, stop):
    """Answer requests on ``fd`` as the gateware would (requests share the replies' framing)."""
    info = plan_info(plan)
    parser = wire.ReplyParser()
    while not stop.is_set():
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        for request in parser.feed(data):
            if int(request.status) == wire.Command.INFO:
                reply = wire.encode_reply(wire.Status.OK, info.to_bytes())
            else:
                reply = _infer_reply(plan, request.payload)
            os.write(fd, reply)


def _infer_reply(plan, payload):
    """The reply to an INFER of ``payload``: find the frame whose encoding it is and answer for it."""
    frame = _FRAMES[payload]
    classes, scores = plan.predict(frame[None])
    result = result_bits(plan)
    width = plan.stages[-1].in_type.width
    word = int(classes[0]) | sum((int(s) & ((1 << width) - 1)) << (index_width(len(scores[0])) + k * width)
                                 for k, s in enumerate(scores[0]))
    return wire.encode_reply(wire.Status.OK, word.to_bytes(-(-result // 8), "little"))


_FRAMES: dict = {}


@pytest.fixture
def fake_board():
    plan = compile_model(load(MLP))
    images, _ = fashion_mnist("test")
    for frame in images[:12]:
        _FRAMES[encode_frame(plan, frame)] = frame
    controller, device = os.openpty()
    tty.setraw(device)
    tty.setraw(controller)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(controller, plan, stop), daemon=True)
    thread.start()
    yield os.ttyname(device)
    stop.set()
    os.close(device)
    os.close(controller)


def test_run_classifies_over_the_serial_port(fake_board, capsys):
    assert main(["run", MLP, "--port", fake_board, "--images", "12", "--show", "3"]) == 0
    out = capsys.readouterr().out
    assert "board == NumPy reference: 100.00% of frames" in out
    assert "frame 2: class" in out and "accuracy:" in out and "frames/s over the serial link" in out


def test_run_without_a_port_is_one_line(capsys):
    assert main(["run", MLP, "--port", "/dev/does-not-exist", "--images", "1"]) == 2
    assert "cannot open /dev/does-not-exist" in capsys.readouterr().err
