"""Per-op resource and timing estimates (provenance: ``estimated``).

These are first-order models of the generated hardware on a Lattice ECP5; the build report shows
them beside the post-synthesis and post-place-and-route measurements.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from math import ceil

__all__ = ["Cost", "ebr_blocks"]

#: ECP5 DP16KD block RAM aspect ratios (depth, width) usable as a ROM or simple dual-port RAM.
_EBR_CONFIGS = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def ebr_blocks(width: int, depth: int) -> int:
    """Fewest 18-kbit EBR blocks that hold a ``width`` x ``depth`` memory."""
    return min(ceil(depth / d) * ceil(width / w) for d, w in _EBR_CONFIGS)


@dataclass(frozen=True)
class Cost:
    """Estimated cost of one hardware stage for one frame."""

    cycles: int = 0          #: clock cycles per frame in steady state (initiation interval)
    lut4: int = 0
    ff: int = 0
    ebr: int = 0
    weight_bits: int = 0     #: parameter bits stored on chip (weights and thresholds)
    buffer_bits: int = 0     #: feature-map bits buffered on chip
    binary_ops: int = 0      #: XNOR + popcount operations per frame (2 per weight bit)

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(**{f.name: (max if f.name == "cycles" else int.__add__)(getattr(self, f.name),
                                                                            getattr(other, f.name))
                       for f in fields(self)})

    def as_dict(self) -> dict:
        return asdict(self)
