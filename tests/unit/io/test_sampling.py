"""Bounded samples of large volumes: whole when small, evenly spaced slices, central crops."""

import numpy as np
import pytest

from vemrestore.io import ArrayReader
from vemrestore.io.sampling import MIN_SLICES, plan_sample, read_sample


def test_a_volume_within_the_budget_is_read_whole():
    sample = plan_sample((10, 20, 30), np.dtype(np.uint8), max_bytes=10 * 20 * 30)
    assert sample.whole and sample.describe() == "the whole volume"
    volume = np.arange(6000, dtype=np.uint16).reshape(10, 20, 30)
    assert np.array_equal(read_sample(ArrayReader(volume), sample), volume)


def test_a_deep_volume_is_read_as_evenly_spaced_whole_slices():
    shape = (1000, 20, 30)
    sample = plan_sample(shape, np.dtype(np.uint16), max_bytes=50 * 20 * 30 * 2)
    assert len(sample.z) == 50 and sample.z[0] == 0 and sample.z[-1] == 999
    assert sample.region_shape == (20, 30)
    assert sample.describe() == "50 of 1000 slices, evenly spaced"
    volume = np.random.default_rng(0).integers(0, 999, shape, dtype=np.uint16)
    assert np.array_equal(read_sample(ArrayReader(volume), sample), volume[list(sample.z)])


def test_slices_too_large_for_the_budget_are_cropped_centrally():
    sample = plan_sample((100, 4000, 3000), np.dtype(np.uint8), max_bytes=MIN_SLICES * 500 * 500)
    assert len(sample.z) == MIN_SLICES
    assert sample.region_shape == (500, 500)
    assert (sample.y.start, sample.x.start) == (1750, 1250)
    assert "central 500×500 px" in sample.describe()
    assert len(sample.z) * 500 * 500 <= MIN_SLICES * 500 * 500


@pytest.mark.parametrize("depth", [1, 3])
def test_thin_volumes_keep_every_slice(depth):
    sample = plan_sample((depth, 5000, 5000), np.dtype(np.float32), max_bytes=2**20)
    assert sample.z == tuple(range(depth))
