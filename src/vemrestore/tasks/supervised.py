"""Supervised fast → slow restoration: the input is the fast window, the target the slow one."""

from __future__ import annotations

import numpy as np


class SupervisedTask:
    """Every slice of a D×H×W fast window is restored towards the slow scan."""

    name = "supervised"
    symmetric = False

    def source_extent(self, window: int, patch_size: tuple[int, int]) -> tuple[int, int, int]:
        return (window, *patch_size)

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.ascontiguousarray(patch["fast"], dtype=np.float32),
            np.ascontiguousarray(patch["slow"], dtype=np.float32),
        )

    def validation_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.make_example(patch)

    def scored_slices(self, window: int) -> slice:
        return slice(0, window)
