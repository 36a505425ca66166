"""The IR's ops. Each module holds one op (or a few that belong together): its type rule, NumPy
semantics, streamlining, folding, cost and the training layers that lower to it; the contract is
:mod:`.base`. (What builds an op's hardware is registered beside its component:
:mod:`bnn_hw.hdl.registry`.) Every module here is imported, which registers its ops
(:data:`.base.OPS`, exported by class name) and lowerings (:data:`.base.LOWERINGS`): adding an op
needs no edit here.
"""

import importlib
import pkgutil

from .base import LOWERINGS, OPS, Fold

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

globals().update(OPS)
__all__ = sorted(OPS) + ["Fold", "OPS", "LOWERINGS"]
