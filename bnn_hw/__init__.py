"""bnn-hw: compile trained binary neural networks into FPGA dataflow hardware.

``bnn_hw.nn`` holds the training layers, :func:`save` / :func:`load` the model file, and the
subpackages ``bnn_hw.compiler``, ``bnn_hw.hdl``, ``bnn_hw.sim`` and ``bnn_hw.boards`` the tool chain.
``bnn_hw.wire`` is the UART protocol's byte format (shared by the gateware server and the host),
``bnn_hw.protocol`` and ``bnn_hw.host`` the host's client and serial port, ``bnn_hw.cli`` the command
line. Which package may import which is checked by ``tests/test_bnn_hw_layers.py``.
"""

from .errors import BnnHwError

__all__ = ["BnnHwError", "load", "save"]


def __getattr__(name: str):
    # load and save come with torch, imported on first use: the cocotb testbenches in bnn_hw.sim run in
    # the simulator's embedded Python, which imports this package first and took 10 s over torch
    if name in ("load", "save"):
        from . import model_file
        return getattr(model_file, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
