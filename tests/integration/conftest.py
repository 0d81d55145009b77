"""Fixtures shared by the integration tests."""

from collections.abc import Callable
from pathlib import Path

import pytest
import tifffile


@pytest.fixture
def make_pair_folder(tmp_path: Path, phantom_pair) -> Callable[[tuple[int, int, int]], Path]:
    """A folder holding one registered ``a_fast.tif``/``a_slow.tif`` phantom pair of a shape."""

    def make(shape: tuple[int, int, int]) -> Path:
        folder = tmp_path / "pairs"
        folder.mkdir()
        fast, slow = phantom_pair(shape, seed=0)
        tifffile.imwrite(folder / "a_fast.tif", fast, photometric="minisblack")
        tifffile.imwrite(folder / "a_slow.tif", slow, photometric="minisblack")
        return folder

    return make
