"""Every network call gets the same number of tiles, so any region gives the whole's numbers."""

import numpy as np

from vemrestore.data.normalization import Normalizer
from vemrestore.geometry import TileGrid
from vemrestore.inference import restore_slices
from vemrestore.io.base import ArrayReader


def _call_sizes(volume: np.ndarray, grid: TileGrid, batch_size: int, region=None) -> set[int]:
    sizes: set[int] = set()

    def predict(batch: np.ndarray) -> np.ndarray:
        sizes.add(len(batch))
        return batch

    slices = restore_slices(
        ArrayReader(volume),
        predict,
        Normalizer(0.0, 1.0),
        grid,
        batch_size,
        np.float32,
        region=region,
    )
    np.testing.assert_allclose(np.stack(list(slices)), volume[region or ...], atol=1e-6)
    return sizes


def test_short_batches_are_padded_to_the_batch_size(rng):
    volume = rng.random((6, 70, 50), dtype=np.float32)
    grid = TileGrid.plan(volume.shape, (3, 32, 24), (1, 8, 8))  # 3 × 3 tiles in-plane
    assert _call_sizes(volume, grid, 4) == {4}
    assert _call_sizes(volume, grid, 4, (slice(0, 6), slice(0, 20), slice(0, 20))) == {4}


def test_batches_never_exceed_the_tiles_of_a_plane(rng):
    volume = rng.random((6, 20, 20), dtype=np.float32)
    grid = TileGrid.plan(volume.shape, (3, 32, 32), (1, 8, 8))  # one tile in-plane
    assert _call_sizes(volume, grid, 4) == {1}
