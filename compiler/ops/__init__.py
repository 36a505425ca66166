"""The IR's ops. Each module holds one op: its type rule, NumPy semantics, hardware and cost."""

from .argmax import ArgMax
from .binary_dense import BinaryDense
from .real import BatchNorm, Scale, Sign
from .thermometer import Thermometer

__all__ = ["ArgMax", "BatchNorm", "BinaryDense", "Scale", "Sign", "Thermometer"]
