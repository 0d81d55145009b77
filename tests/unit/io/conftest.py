"""Tiny synthetic volumes shared by the I/O tests."""

from collections.abc import Callable

import numpy as np
import pytest


@pytest.fixture
def make_volume(rng: np.random.Generator) -> Callable[..., np.ndarray]:
    """Random data covering each dtype's full range, so any lossy step shows up."""

    def make(dtype=np.uint16, shape=(5, 24, 32)) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            return (rng.standard_normal(shape) * 1e3).astype(dtype)
        return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True, dtype=dtype)

    return make
