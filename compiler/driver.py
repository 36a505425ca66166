"""The compile driver: a loaded model to a validated, folded hardware plan, and the fit search.

:func:`compile_model` runs the frontend, streamlining and folding (default, for a frame rate, or
the fastest that fits a device); :func:`check_fit` says in one line which layer does not fit.
"""

from __future__ import annotations

from ..errors import BnnHwError, FitError
from .cost import GENERIC_BLOCK_RAM, BlockRam
from .folding import Fold, apply_folding, folding_for_cycles, folding_for_fps
from .frontend import from_model
from .ir import Graph, validate
from .plan import Plan
from .streamline import streamline

__all__ = ["compile_model", "check_fit", "fastest_fitting_folding", "FIT_HEADROOM"]


def compile_model(model, folding: dict[str, Fold] | None = None, *, target_fps: float | None = None,
                  clock_hz: float | None = None, fit: tuple[str, dict[str, int]] | None = None,
                  block_ram: BlockRam = GENERIC_BLOCK_RAM) -> Plan:
    """Frontend, streamlining and folding: a loaded model to a validated hardware plan.

    The base folding is the default, or the cheapest meeting ``target_fps`` at ``clock_hz``, or with
    ``fit=(device, capacity)`` the fastest that fits the device with headroom; ``folding`` overrides
    single layers on top. Block RAM is estimated in blocks of ``block_ram``: the target device's
    (``board.chip.block_ram``; ``capacity["ebr"]`` counts the same blocks), or for no device
    :data:`~bnn_hw.compiler.cost.GENERIC_BLOCK_RAM`.
    """
    graph = validate(streamline(from_model(model)))
    if target_fps is not None and fit is not None:
        raise BnnHwError("choose a target frame rate or --fit, not both")
    base = None
    if target_fps is not None:
        base = folding_for_fps(graph, target_fps, clock_hz)
    elif fit is not None:
        base = fastest_fitting_folding(graph, *fit, block_ram=block_ram)
    plan = Plan(graph, apply_folding(graph, folding, base), block_ram)
    plan.layout  # the structure is checked now, not when the hardware is built
    return plan


#: The fraction of a device that ``--fit`` lets the estimate use.
FIT_HEADROOM = 0.8


def _overused(plan: Plan, capacity: dict[str, int], headroom: float) -> str | None:
    """The first resource whose estimate exceeds ``capacity * headroom``, or None if all fit."""
    return next((r for r, available in capacity.items() if getattr(plan.total, r) > available * headroom),
                None)


def fastest_fitting_folding(graph: Graph, device: str, capacity: dict[str, int],
                            headroom: float = FIT_HEADROOM, *,
                            block_ram: BlockRam = GENERIC_BLOCK_RAM) -> dict[str, Fold]:
    """The folding with the fewest cycles per frame whose estimate fits ``capacity * headroom``
    (``capacity["ebr"]`` in blocks of ``block_ram``)."""
    def plan_for(budget):
        return Plan(graph, apply_folding(graph, None, folding_for_cycles(graph, budget)), block_ram)

    slowest = plan_for(1 << 40).bottleneck.cost.cycles  # everything folded to one lane
    if _overused(plan_for(slowest), capacity, headroom):
        raise FitError(f"the network does not fit {device} even fully folded (1 lane per layer)")
    lo, hi = 1, slowest  # invariant: budget hi fits
    while lo < hi:
        mid = (lo + hi) // 2
        if not _overused(plan_for(mid), capacity, headroom):
            hi = mid
        else:
            lo = mid + 1
    return folding_for_cycles(graph, hi)


def check_fit(plan: Plan, capacity: dict[str, int], device: str, headroom: float = 1.0) -> None:
    """Raise :class:`FitError` naming the layer and resource if the estimate exceeds ``capacity``.

    ``capacity`` maps ``lut4``/``ff``/``ebr``/``dsp`` to the device's counts (``ebr`` in blocks of the
    plan's ``block_ram``: cost the plan for the device first with :meth:`Plan.costed_for`);
    ``headroom`` scales them.
    """
    resource = _overused(plan, capacity, headroom)
    if resource is not None:
        need, available = getattr(plan.total, resource), capacity[resource]
        worst = max(plan.stages, key=lambda s: getattr(s.cost, resource))
        unit = f"EBR ({plan.block_ram})" if resource == "ebr" else resource.upper()
        if worst.unrolled:
            raise FitError(
                f"the network needs about {need} {unit} but {device} has {available}; layer {worst.name} is "
                f"unrolled (its weights as logic) and alone needs {getattr(worst.cost, resource)} {unit}: too large "
                f"to unroll on this chip; build it folded (--folding {worst.name}=16x64, or --fit)")
        if resource == "dsp":
            raise FitError(
                f"the network needs about {need} DSP but {device} has {available}; layer {worst.name} alone needs "
                f"{worst.cost.dsp} (folding {worst.fold}); give it fewer lanes (--folding "
                f"{worst.name}=PExSIMD:dsp with a smaller PE or SIMD) or drop :dsp to add in LUTs")
        raise FitError(
            f"the network needs about {need} {unit} but {device} has {available}; "
            f"layer {worst.name} alone needs {getattr(worst.cost, resource)} (folding {worst.fold}); "
            f"fold it more (--folding {worst.name}=PExSIMD with a smaller PE or SIMD, or --fit) "
            f"or choose a larger device")
