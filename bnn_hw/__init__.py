"""bnn-hw: compile trained binary neural networks into FPGA dataflow hardware.

``bnn_hw.nn`` holds the training layers, :func:`save` / :func:`load` the model file, and the
subpackages ``bnn_hw.compiler``, ``bnn_hw.hdl``, ``bnn_hw.sim`` and ``bnn_hw.boards`` the tool chain.
"""

from .errors import BnnHwError
from .model_file import load, save

__all__ = ["BnnHwError", "load", "save"]
