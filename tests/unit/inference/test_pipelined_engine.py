"""The pipelined engine: bit-identical to the sequential reference, overlapped, clean on errors."""

import threading
import time

import numpy as np
import pytest
import torch
from sequential_reference import restore_slices as reference_restore_slices

from vemrestore.data.normalization import Normalizer
from vemrestore.geometry import TileGrid
from vemrestore.inference import Predictor, StageTimes, engine, restore_slices
from vemrestore.io.base import ArrayReader

NORMALIZERS = {
    np.uint8: Normalizer(3.7, 250.3),
    np.uint16: Normalizer(117.2, 61234.9),
    np.float32: Normalizer(0.013, 0.971),
}


def _volume(rng, dtype, shape) -> np.ndarray:
    if dtype == np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)


def _run(engine, volume, predict, grid, batch_size, output_dtype, region=None, **options):
    slices = engine(
        ArrayReader(volume),
        predict,
        NORMALIZERS[volume.dtype.type],
        grid,
        batch_size,
        np.dtype(output_dtype),
        region=region,
        **options,
    )
    return np.stack(list(slices))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize(
    "shape,tile,overlap,batch_size",
    [
        ((7, 61, 45), (5, 32, 24), (4, 8, 8), 3),
        ((3, 13, 9), (5, 16, 16), (2, 4, 4), 2),  # smaller than a tile: mirrored more than once
        ((11, 37, 50), (3, 20, 50), (2, 9, 7), 1),
    ],
)
@pytest.mark.parametrize("mode", ["pipelined", "sequential", "device arithmetic"])
def test_engine_equals_the_sequential_reference_bit_for_bit(
    random_conv_model, rng, monkeypatch, dtype, shape, tile, overlap, batch_size, mode
):
    """Also the GPU code path (torch arithmetic on the predictor's device), run on CPU."""
    monkeypatch.setattr(engine, "_TORCH_ON_CPU", mode == "device arithmetic")
    pipelined = mode != "sequential"
    volume = _volume(rng, dtype, shape)
    grid = TileGrid.plan(shape, tile, overlap)
    predict = Predictor(random_conv_model, "cpu")
    for output_dtype in {np.dtype(dtype), np.dtype(np.float32)}:
        expected = _run(reference_restore_slices, volume, predict, grid, batch_size, output_dtype)
        restored = _run(
            restore_slices, volume, predict, grid, batch_size, output_dtype, pipelined=pipelined
        )
        assert restored.dtype == output_dtype
        assert not np.array_equal(restored.astype(np.float32), volume.astype(np.float32))
        np.testing.assert_array_equal(restored, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_region_runs_equal_the_reference_bit_for_bit(random_conv_model, rng, dtype):
    volume = _volume(rng, dtype, (9, 50, 41))
    grid = TileGrid.plan(volume.shape, (5, 24, 32), (4, 8, 12))
    predict = Predictor(random_conv_model, "cpu")
    for region in [
        (slice(0, 4), slice(0, 33), slice(7, 41)),
        (slice(4, 9), slice(20, 50), slice(0, 7)),
        (slice(2, 3), slice(5, 6), slice(40, 41)),
    ]:
        expected = _run(reference_restore_slices, volume, predict, grid, 2, dtype, region)
        restored = _run(restore_slices, volume, predict, grid, 2, dtype, region)
        np.testing.assert_array_equal(restored, expected)


class _SlowReader(ArrayReader):
    def __init__(self, volume: np.ndarray, seconds: float) -> None:
        super().__init__(volume)
        self.seconds = seconds

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        time.sleep(self.seconds)
        return super()._read(z, y, x)


def test_wall_time_is_close_to_the_slowest_stage_not_the_sum():
    """A reader and a model that each wait 50 ms per row overlap: ~n·50 ms, not n·100 ms."""
    rows, wait = 12, 0.05
    volume = np.zeros((rows, 16, 16), dtype=np.float32)
    grid = TileGrid.plan(volume.shape, (1, 16, 16), (0, 0, 0))

    def slow_model(batch: np.ndarray) -> np.ndarray:
        time.sleep(wait)
        return batch

    def wall_time(pipelined: bool) -> float:
        times = StageTimes()
        start = time.perf_counter()
        slices = restore_slices(
            _SlowReader(volume, wait),
            slow_model,
            Normalizer(0.0, 1.0),
            grid,
            1,
            np.float32,
            pipelined=pipelined,
            times=times,
        )
        assert len(list(slices)) == rows
        assert times.read >= rows * wait and times.predict >= rows * wait
        return time.perf_counter() - start

    sequential, pipelined = wall_time(False), wall_time(True)
    assert sequential >= 2 * rows * wait
    assert pipelined < 0.7 * sequential, (pipelined, sequential)
    assert pipelined >= rows * wait


def test_an_error_in_a_stage_reaches_the_consumer_and_stops_the_threads(rng):
    class FailingReader(ArrayReader):
        def _read(self, z, y, x):
            if z.start >= 6:
                raise OSError("disk vanished")
            return super()._read(z, y, x)

    volume = rng.random((12, 20, 20), dtype=np.float32)
    grid = TileGrid.plan(volume.shape, (3, 20, 20), (0, 0, 0))
    stream = restore_slices(
        FailingReader(volume), lambda b: b, Normalizer(0.0, 1.0), grid, 1, np.float32
    )
    with pytest.raises(OSError, match="disk vanished"):
        for _ in stream:
            pass
    assert not [t for t in threading.enumerate() if t.name.startswith("vemrestore-")]


def test_a_consumer_that_stops_early_stops_the_threads(rng):
    volume = rng.random((40, 20, 20), dtype=np.float32)
    grid = TileGrid.plan(volume.shape, (1, 20, 20), (0, 0, 0))
    stream = restore_slices(
        ArrayReader(volume), lambda b: b, Normalizer(0.0, 1.0), grid, 1, np.float32
    )
    np.testing.assert_allclose(next(stream), volume[0], atol=1e-6)
    stream.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("vemrestore-")]


class _OutOfMemoryAbove(torch.nn.Module):
    """Identity that runs out of memory on calls of more than ``limit`` tiles (all, or once)."""

    def __init__(self, limit: int, once: bool) -> None:
        super().__init__()
        self.limit, self.once, self.sizes = limit, once, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        if len(x) > self.limit:
            if self.once:
                self.limit = len(x)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x * 2


@pytest.mark.parametrize("once", [True, False])
def test_out_of_memory_retries_with_half_the_batch(rng, caplog, once):
    volume = rng.random((4, 64, 64), dtype=np.float32)
    grid = TileGrid.plan(volume.shape, (1, 16, 16), (0, 0, 0))  # 16 tiles per slice
    model = _OutOfMemoryAbove(limit=3, once=once)
    predictor = Predictor(model, "cpu")
    with caplog.at_level("WARNING", logger="vemrestore.inference.predictor"):
        restored = np.stack(
            list(
                restore_slices(
                    ArrayReader(volume), predictor, Normalizer(0.0, 1.0), grid, 8, np.float32
                )
            )
        )
    np.testing.assert_allclose(restored, 2 * volume, rtol=1e-6)
    assert predictor.max_call_size == (4 if once else 2)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings[0].startswith("out of memory on cpu: retrying with 4 tiles per network call")
    assert len(warnings) == (1 if once else 2)
    assert model.sizes[: 3 if once else 4] == ([8, 4, 4] if once else [8, 4, 2, 2])
    assert set(model.sizes[4:]) == {predictor.max_call_size}, "later calls keep the smaller size"


def test_out_of_memory_with_one_tile_is_raised(rng):
    predictor = Predictor(_OutOfMemoryAbove(limit=0, once=False), "cpu")
    with pytest.raises(torch.OutOfMemoryError):
        predictor(np.zeros((2, 1, 8, 8), dtype=np.float32))


def test_predictor_options_on_cpu(rng):
    from vemrestore.config import InferenceConfig
    from vemrestore.models import create_model

    model = create_model("unet2p5d", window=3, base_channels=4, depth=2)
    config = InferenceConfig(channels_last=True, amp_dtype="bfloat16")
    predictor = Predictor.from_config(model, config, device="cpu")
    assert predictor.channels_last and predictor.amp_dtype == torch.bfloat16 and not predictor.amp
    assert predictor.batch_size(None, (3, 64, 64)) == 4, "CPU: the default batch"
    assert predictor.batch_size(7, (3, 64, 64)) == 7
    batch = rng.random((2, 3, 40, 48), dtype=np.float32)
    np.testing.assert_allclose(predictor(batch), Predictor(model, "cpu")(batch), atol=1e-5)


def test_channels_last_is_on_by_default_on_cpu_for_2d_convolutions_only(rng):
    from vemrestore.models import create_model

    planar = create_model("unet2p5d", window=1, base_channels=4, depth=2)
    assert Predictor(planar, "cpu").channels_last
    assert not Predictor(planar, "cpu", channels_last=False).channels_last
    volumetric = torch.nn.Conv3d(1, 1, 3, padding=1)
    predictor = Predictor(_Planes(volumetric), "cpu")
    assert not predictor.channels_last, "5-D weights have no channels-last layout"
    identity = create_model("identity")
    assert not Predictor(identity, "cpu").channels_last, "nothing to speed up, only a copy"
    assert predictor(rng.random((1, 3, 8, 8), dtype=np.float32)).shape == (1, 3, 8, 8)


class _Planes(torch.nn.Module):
    """A (B, D, H, W) model made of one 3D convolution."""

    def __init__(self, convolution: torch.nn.Module) -> None:
        super().__init__()
        self.convolution = convolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convolution(x[:, None])[:, 0]
