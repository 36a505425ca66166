"""Array helpers shared by the ops: read-only parameter arrays and bit packing."""

from __future__ import annotations

import numpy as np


def frozen_array(a, dtype) -> np.ndarray:
    """A read-only copy of ``a`` as ``dtype``, so ops stay immutable."""
    a = np.array(a, dtype=dtype)
    a.setflags(write=False)
    return a


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack the last axis of a 0/1 array into little-endian uint64 words (zero padding)."""
    bits = np.asarray(bits, dtype=np.uint8)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    pad = (-packed.shape[-1]) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view(np.uint64)
