"""The compiler: a loaded model to a folded hardware plan (``bnn_hw.compiler``).

``compile_model(bnn_hw.load("net.pt"))`` gives a :class:`Plan`; its :meth:`~Plan.predict` is the
bit-exact NumPy reference and :func:`bnn_hw.hdl.pipeline.build_pipeline` its Amaranth pipeline.
The op contract every layer kind follows is :mod:`bnn_hw.compiler.ops.base`.
"""

from .driver import FIT_HEADROOM, check_fit, compile_model, fastest_fitting_folding
from .ops.base import Fold
from .plan import Plan
from .stages import Block, Bypass, Stage

__all__ = ["compile_model", "check_fit", "fastest_fitting_folding", "FIT_HEADROOM", "Plan", "Stage", "Block",
           "Bypass", "Fold"]
