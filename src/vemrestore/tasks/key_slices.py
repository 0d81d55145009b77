"""Key-slice mode: a slow "key" slice every ``period`` slices, fast slices in between.

Acquisition pattern for period p = 4 (S slow, F fast)::

    z:   0  1  2  3  4  5  6  7  8
         S  F  F  F  S  F  F  F  S
         |<- window ->|
                     |<- window ->|     windows of p + 1 slices, key slices at both borders

Training emulation from a fully sampled (fast, slow) pair: read a (p+1, 2H, 2W) patch from
both volumes and split each slice into its four 2×2 sub-lattices (y parity, x parity)::

    input  = fast (0,0) sub-lattice, first and last slices replaced by slow (0,0)
    target = mean of the slow (0,1), (1,0), (1,1) sub-lattices

so input and target carry independent noise, and the network learns to restore the fast
slices between two clean key slices. Only the interior slices are scored.
"""

from __future__ import annotations

import numpy as np


def key_positions(depth: int, period: int, offset: int = 0) -> np.ndarray:
    """z indices of key slices in a volume of ``depth`` slices: offset, offset + p, …"""
    if period < 1 or not 0 <= offset < period:
        raise ValueError(f"need period >= 1 and 0 <= offset < period, got {period}, {offset}")
    return np.arange(offset, depth, period)


def simulate_key_slices(
    fast: np.ndarray, slow: np.ndarray, period: int = 4, offset: int = 0
) -> np.ndarray:
    """A key-slice acquisition from a fully sampled pair: slow at key positions, fast elsewhere.

    ``fast``/``slow``: (Z, Y, X) arrays of equal shape and dtype; returns a new array.
    """
    if fast.shape != slow.shape or fast.dtype != slow.dtype:
        raise ValueError(
            f"fast {fast.shape} {fast.dtype} and slow {slow.shape} {slow.dtype} must match"
        )
    acquisition = np.array(fast, copy=True)
    keys = key_positions(fast.shape[0], period, offset)
    acquisition[keys] = slow[keys]
    return acquisition


class KeySliceTask:
    """Learn to restore the fast slices between two slow key slices ``period`` apart."""

    name = "key_slices"
    symmetric = False

    def __init__(self, period: int = 4) -> None:
        self.period = period

    def source_extent(self, window: int, patch_size: tuple[int, int]) -> tuple[int, int, int]:
        if window != self.period + 1:
            raise ValueError(f"key-slice period {self.period} needs window {self.period + 1}")
        return (window, 2 * patch_size[0], 2 * patch_size[1])

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(p+1, 2H, 2W) fast and slow → (p+1, H, W) input and target, float32."""
        fast = patch["fast"].astype(np.float32, copy=False)
        slow = patch["slow"].astype(np.float32, copy=False)
        inputs = np.ascontiguousarray(fast[:, 0::2, 0::2])
        inputs[0] = slow[0, 0::2, 0::2]
        inputs[-1] = slow[-1, 0::2, 0::2]
        target = (slow[:, 0::2, 1::2] + slow[:, 1::2, 0::2] + slow[:, 1::2, 1::2]) / np.float32(3)
        return inputs, np.ascontiguousarray(target, dtype=np.float32)

    def validation_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.make_example(patch)

    def scored_slices(self, window: int) -> slice:
        return slice(1, window - 1)
