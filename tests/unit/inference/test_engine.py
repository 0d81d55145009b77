"""Tiling invariance, identity exactness and streaming behaviour of the restoration engine."""

import numpy as np
import pytest

from vemrestore import restore
from vemrestore.config import InferenceConfig
from vemrestore.data.normalization import Normalizer
from vemrestore.geometry import TileGrid
from vemrestore.inference import gather_slices, restore_slices
from vemrestore.io.base import ArrayReader
from vemrestore.models import create_model


def _whole_volume(volume: np.ndarray, model, halo: int = 2) -> np.ndarray:
    """One tile covering the whole (reflect-padded) volume: restoring it in one piece."""
    tile = tuple(max(n + 2 * halo, 4 * halo + 1) for n in volume.shape)
    config = InferenceConfig(tile=tile, overlap=(4 * halo,) * 3, batch_size=1)
    return restore(volume, model, config=config)


@pytest.mark.parametrize(
    "shape,tile,overlap,batch_size",
    [
        ((7, 301, 257), (9, 64, 64), (8, 16, 16), 3),
        ((7, 301, 257), (12, 100, 90), (11, 23, 9), 1),
        ((7, 301, 257), (9, 128, 48), (8, 8, 40), 8),
        ((3, 20, 30), (9, 64, 64), (8, 16, 16), 2),
    ],
)
def test_tiled_restoration_equals_whole_volume(
    random_conv_model, rng, shape, tile, overlap, batch_size
):
    volume = rng.random(shape, dtype=np.float32)
    expected = _whole_volume(volume, random_conv_model)
    tiled = restore(
        volume,
        random_conv_model,
        config=InferenceConfig(tile=tile, overlap=overlap, batch_size=batch_size),
    )
    assert tiled.shape == shape and tiled.dtype == np.float32
    assert np.abs(tiled - volume).max() > 1e-2, (
        "the model must change the data for this test to mean anything"
    )
    np.testing.assert_allclose(tiled, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    "config", [InferenceConfig(), InferenceConfig(tile=(3, 40, 50), overlap=(2, 13, 7))]
)
def test_identity_model_returns_input_exactly(rng, dtype, config):
    volume = rng.integers(0, np.iinfo(dtype).max, size=(7, 101, 83), dtype=dtype, endpoint=True)
    restored = restore(volume, create_model("identity"), config=config)
    assert restored.dtype == dtype
    np.testing.assert_array_equal(restored, volume)


def test_single_2d_image_and_float32_output(rng):
    image = rng.integers(0, 256, size=(45, 37), dtype=np.uint8)
    restored = restore(
        image, create_model("identity"), config=InferenceConfig(output_dtype="float32")
    )
    assert restored.shape == image.shape and restored.dtype == np.float32
    np.testing.assert_allclose(restored, image.astype(np.float32), atol=1e-3)


def test_slices_are_streamed_in_order_before_the_volume_is_finished(rng):
    """The first slices must come out while later tiles are still unprocessed (bounded memory)."""
    volume = rng.random((20, 16, 16), dtype=np.float32)
    calls: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return batch

    grid = TileGrid.plan(volume.shape, (5, 16, 16), (2, 0, 0))
    stream = restore_slices(ArrayReader(volume), predict, Normalizer(0.0, 1.0), grid, 4, np.float32)
    first = next(stream)
    np.testing.assert_allclose(first, volume[0], atol=1e-6)
    assert len(calls) < len(grid.z.starts)
    rest = list(stream)
    assert len(rest) == 19
    np.testing.assert_allclose(np.stack([first, *rest]), volume, atol=1e-6)


def test_overlap_not_smaller_than_tile_is_refused(rng):
    from vemrestore.errors import VemRestoreError

    with pytest.raises(VemRestoreError, match="overlap along y"):
        restore(
            rng.random((5, 20, 20), dtype=np.float32),
            create_model("identity"),
            config=InferenceConfig(tile=(5, 16, 16), overlap=(2, 16, 4)),
        )


def test_restoring_region_by_region_reproduces_the_whole_volume(random_conv_model, rng):
    """Regions use the tiles of the same global grid, so a blocked run gives the same numbers."""
    from vemrestore.inference import Predictor

    volume = rng.random((11, 70, 53), dtype=np.float32)
    grid = TileGrid.plan(volume.shape, (5, 32, 24), (4, 8, 8))
    predict = Predictor(random_conv_model, "cpu")
    reader = ArrayReader(volume)

    def run(region=None) -> np.ndarray:
        slices = restore_slices(
            reader, predict, Normalizer(0.0, 1.0), grid, 1, np.float32, region=region
        )
        return np.stack(list(slices))

    whole = run()
    assembled = np.full_like(whole, np.nan)
    for z in (slice(0, 4), slice(4, 11)):
        for y in (slice(0, 33), slice(33, 70)):
            for x in (slice(0, 7), slice(7, 53)):
                assembled[z, y, x] = run((z, y, x))
    np.testing.assert_array_equal(assembled, whole)


def test_gather_slices_fills_one_volume_and_refuses_a_wrong_count():
    slices = [np.full((3, 4), z, dtype=np.uint16) for z in range(5)]
    volume = gather_slices(iter(slices), 5)
    assert volume.dtype == np.uint16 and volume.shape == (5, 3, 4)
    assert np.array_equal(volume, np.stack(slices))
    with pytest.raises(ValueError, match="4 slices for a volume of 5"):
        gather_slices(iter(slices[:4]), 5)
    with pytest.raises(ValueError, match="0 slices"):
        gather_slices(iter([]), 5)
