"""A growing axis: the settled prefix has the tiles and weights of every longer final axis."""

import numpy as np
import pytest

from vemrestore.geometry import AxisTiling, settled_prefix


def _touching(axis: AxisTiling, z: int) -> tuple[int, ...]:
    return axis.starts_touching(z, z + 1)


@pytest.mark.parametrize("tile,overlap", [(1, 0), (3, 2), (5, 2), (5, 4), (9, 8), (12, 5), (7, 0)])
def test_settled_positions_are_the_same_for_every_final_length(tile, overlap):
    for available in range(1, 40):
        settled = settled_prefix(tile, overlap, available)
        assert 0 <= settled <= available
        now = AxisTiling(available, tile, overlap)
        for final_length in range(available, available + 3 * tile + 3):
            final = AxisTiling(final_length, tile, overlap)
            for z in range(settled):
                starts = _touching(final, z)
                assert starts == _touching(now, z), (available, final_length, z)
                # every tile over a settled slice reads only slices that exist already
                assert max(starts) + tile <= available
                assert final.weight_sum[z] == now.weight_sum[z]


@pytest.mark.parametrize("tile,overlap", [(1, 0), (5, 2), (9, 8)])
def test_settled_prefix_grows_to_within_one_tile_of_the_available_slices(tile, overlap):
    lags = [n - settled_prefix(tile, overlap, n) for n in range(tile + 1, 60)]
    assert max(lags) <= tile + (tile - overlap)
    if tile == 1:
        assert set(lags) == {0}, "a 2D model restores each slice as soon as it arrives"


def test_settled_prefix_is_monotonic():
    values = [settled_prefix(5, 2, n) for n in range(0, 50)]
    assert np.all(np.diff(values) >= 0)
