import numpy as np
import pytest

from vemrestore.geometry import AxisTiling, TileGrid, blend_profile, reflect_indices


def test_reflect_indices_mirror_without_repeating_the_edge():
    assert reflect_indices(-2, 6, 4).tolist() == [2, 1, 0, 1, 2, 3, 2, 1]
    np.testing.assert_array_equal(
        reflect_indices(-3, 10, 5), np.pad(np.arange(5), (3, 5), "reflect")
    )


def test_reflect_indices_single_slice_fills_any_window():
    assert reflect_indices(-2, 3, 1).tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("size,overlap", [(5, 0), (5, 2), (5, 4), (64, 16), (256, 32), (9, 8)])
def test_blend_profile_is_symmetric_bounded_and_zero_in_halo(size, overlap):
    weights = blend_profile(size, overlap)
    np.testing.assert_allclose(weights, weights[::-1])
    assert weights.min() >= 0 and weights.max() <= 1
    if 2 * overlap <= size:
        assert weights[size // 2] == 1
    halo = overlap // 4
    assert np.all(weights[:halo] == 0)
    assert np.all(weights[halo : size - halo] > 0)


@pytest.mark.parametrize(
    "length,tile,overlap",
    [(7, 5, 4), (7, 5, 2), (1, 5, 4), (301, 64, 16), (257, 100, 33), (10, 64, 16), (5, 5, 0)],
)
def test_axis_tiles_cover_every_real_voxel_with_positive_weight(length, tile, overlap):
    axis = AxisTiling(length, tile, overlap)
    starts = np.array(axis.starts)
    assert np.all(np.diff(starts) > 0)
    assert starts[0] == -axis.halo
    assert starts[-1] + tile >= length + axis.halo
    assert np.all(np.diff(starts) <= tile - overlap)
    assert axis.weight_sum.shape == (length,)
    assert axis.weight_sum.min() > 0


def test_overlap_must_be_smaller_than_tile():
    with pytest.raises(ValueError, match="overlap"):
        AxisTiling(100, 16, 16)


def test_grid_counts_tiles_over_all_axes():
    grid = TileGrid.plan((7, 301, 257), (5, 64, 64), (2, 16, 16))
    expected = len(grid.z.starts) * len(grid.y.starts) * len(grid.x.starts)
    assert grid.n_tiles == expected
    assert grid.z.starts == (0, 2)
    assert len(grid.y.starts) == 7 and len(grid.x.starts) == 6


@pytest.mark.parametrize("length", [1, 20, 45, 256, 500, 1024, 1600, 2048, 4100])
@pytest.mark.parametrize("max_tile,overlap", [(256, 32), (512, 32), (1024, 32), (64, 16)])
def test_fitted_tile_covers_the_axis_evenly_in_the_fewest_tiles(length, max_tile, overlap):
    from vemrestore.geometry import fitted_tile

    tile = fitted_tile(length, max_tile, overlap)
    assert tile % 16 == 0 and tile > overlap
    fitted, fixed = AxisTiling(length, tile, overlap), AxisTiling(length, max_tile, overlap)
    assert len(fitted.starts) <= len(fixed.starts)
    if len(fitted.starts) > 1:
        assert tile <= max_tile + 15
    # no tile longer than needed: one multiple smaller would take one more tile
    if tile - 16 > overlap:
        assert len(AxisTiling(length, tile - 16, overlap).starts) > len(fitted.starts)
    assert fitted.starts[0] == -fitted.halo and fitted.starts[-1] + tile >= length + fitted.halo
    assert len(fitted.starts) * tile <= len(fixed.starts) * max_tile
