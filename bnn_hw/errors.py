"""The one exception type bnn-hw raises for problems a user can fix.

The CLI prints ``error: <message>`` on one line for these and exits with status 2; anything else is a
bug in bnn-hw and keeps its traceback.
"""


class BnnHwError(Exception):
    """A user-facing error: the message says what is wrong and, where possible, what to do."""


class ModelFileError(BnnHwError):
    """``net.pt`` is not a readable bnn-hw model (wrong format, truncated, wrong shapes, unknown layer)."""


class UnsupportedModelError(BnnHwError):
    """The model is valid but uses a layer or arrangement the compiler cannot lower."""


class ToolchainError(BnnHwError):
    """An external tool (yosys, nextpnr, ecppack, a simulator) is missing or failed."""


class FitError(BnnHwError):
    """The network does not fit the chosen device."""
