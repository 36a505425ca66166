"""The IR's ops. Each module holds one op: its type rule, NumPy semantics, hardware and cost."""

from .argmax import ArgMax
from .avg_pool import AvgPool
from .binary_conv import BinaryConv2d
from .binary_dense import BinaryDense
from .channel_shuffle import ChannelShuffle
from .concat import Concat
from .fixed_conv import FixedConv, LevelThresholds
from .fixed_point import Add, FixedSign, Quantize, Requantize
from .logic_join import LogicJoin
from .max_pool import MaxPool
from .pixel_conv import PixelConv2d
from .real import BatchNorm, Scale, Sign
from .thermometer import Thermometer

__all__ = ["Add", "FixedSign", "Quantize", "Requantize", "AvgPool", "FixedConv", "LevelThresholds", "ArgMax", "BatchNorm", "BinaryConv2d", "BinaryDense", "ChannelShuffle", "Concat", "LogicJoin", "MaxPool",
           "PixelConv2d", "Scale", "Sign", "Thermometer"]
