"""Block-wise restoration on Dask: equal to the single-process engine, resumable, bit-identical.

One LocalCluster of 2 worker processes serves the module (``--scheduler`` path); the tests
that must see a run's workers stop when it fails use the default local cluster instead.
"""

import hashlib
import logging
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import tifffile
import torch
import zarr
from distributed import LocalCluster
from torch import nn
from typer.testing import CliRunner

from vemrestore import restore
from vemrestore.api import restore_blocks
from vemrestore.cli import app
from vemrestore.config import DistributedConfig, InferenceConfig, NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.io import open_volume
from vemrestore.model_io.checkpoint import Checkpoint, save_checkpoint
from vemrestore.models import create_model

# Worker processes cannot import this test module: ship its model classes by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SHAPE = (13, 70, 53)
INPUT_CHUNKS = (3, 17, 23)
CONFIG = InferenceConfig(tile=(5, 32, 24), overlap=(2, 8, 8), batch_size=3, device="cpu")
BLOCKS = {"block": (4, 24, 20), "chunks": (2, 24, 20)}
N_BLOCKS = 4 * 3 * 3


class CrashingConv(nn.Module):
    """A fixed random 3D convolution (it changes the data) that can fail like a crash.

    With ``crash_after`` it raises on its (crash_after + 1)-th call in a process. The
    attribute is not a weight, so crashing and healthy instances restore the same numbers.
    """

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(
            nn.Conv3d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv3d(4, 1, 3, padding=1)
        )
        self.window = 5
        self.crash_after = crash_after
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise RuntimeError("simulated crash")
        return x + self.layers(x.unsqueeze(1)).squeeze(1)


@pytest.fixture(scope="module")
def scheduler() -> str:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address


def _make_zarr(path: Path, dtype, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        volume = rng.random(SHAPE, dtype=np.float32)
    else:
        volume = rng.integers(0, np.iinfo(dtype).max, SHAPE, dtype=dtype, endpoint=True)
    array = zarr.create_array(store=str(path), shape=SHAPE, chunks=INPUT_CHUNKS, dtype=dtype)
    array[:] = volume
    return volume


def _read(path: Path) -> np.ndarray:
    with open_volume(path) as reader:
        return reader.read(slice(None))


def _chunk_mtimes(path: Path, block_ids: set[str]) -> dict[str, int]:
    """Modification times of the chunk files of ``block_ids`` (one chunk z-slab per file)."""
    times = {}
    for block_id in block_ids:
        (z0, z1), (y0, _), (x0, _) = (map(int, part[1:].split("-")) for part in block_id.split("_"))
        for z in range(z0, z1, BLOCKS["chunks"][0]):
            chunk = path / "0" / "c" / str(z // 2) / str(y0 // 24) / str(x0 // 20)
            times[str(chunk)] = chunk.stat().st_mtime_ns
    return times


@pytest.mark.parametrize(
    "dtype,normalization",
    [(np.float32, "dtype"), (np.uint8, "dtype"), (np.uint16, "percentile")],
)
def test_block_runner_equals_the_single_process_engine(tmp_path, scheduler, dtype, normalization):
    volume = _make_zarr(tmp_path / "in.zarr", dtype)
    checkpoint = Checkpoint(CrashingConv(), NormalizationConfig(mode=normalization))
    expected = restore(volume, checkpoint, config=CONFIG)
    summary = restore_blocks(
        tmp_path / "in.zarr",
        tmp_path / "out.zarr",
        checkpoint,
        config=CONFIG,
        distributed=DistributedConfig(scheduler=scheduler, **BLOCKS),
    )
    assert summary.complete and summary.total == N_BLOCKS == len(summary.restored)
    restored = _read(tmp_path / "out.zarr")
    assert restored.dtype == dtype
    assert np.abs(restored.astype(float) - volume).mean() > 1e-3, "the model must change the data"
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(restored, expected, atol=1e-6, rtol=0)
    else:
        np.testing.assert_array_equal(restored, expected)


def test_stopped_run_resumes_without_recomputing_finished_blocks(tmp_path, scheduler):
    _make_zarr(tmp_path / "in.zarr", np.float32)
    model = CrashingConv()
    settings = DistributedConfig(scheduler=scheduler, **BLOCKS)
    restore_blocks(
        tmp_path / "in.zarr", tmp_path / "whole.zarr", model, config=CONFIG, distributed=settings
    )

    out = tmp_path / "out.zarr"
    stopped = DistributedConfig(scheduler=scheduler, max_blocks=7, **BLOCKS)
    first = restore_blocks(tmp_path / "in.zarr", out, model, config=CONFIG, distributed=stopped)
    assert len(first.restored) == 7 and not first.complete
    assert zarr.open_group(str(out), mode="r").attrs["vemrestore"]["incomplete"] is True
    finished_chunks = _chunk_mtimes(out, set(first.restored))

    second = restore_blocks(tmp_path / "in.zarr", out, model, config=CONFIG, distributed=settings)
    assert second.complete and second.skipped == 7
    assert set(second.restored).isdisjoint(first.restored)
    assert len(second.restored) == N_BLOCKS - 7
    assert _chunk_mtimes(out, set(first.restored)) == finished_chunks, "finished blocks redone"
    np.testing.assert_array_equal(_read(out), _read(tmp_path / "whole.zarr"))
    assert not (out / ".vemrestore").exists()


def test_crashed_run_resumes_bit_identical(tmp_path, scheduler):
    """A crash inside blocks (some of their chunks already written), on the default cluster.

    That cluster's workers stop with the failed run, so the markers seen here are final.
    """
    _make_zarr(tmp_path / "in.zarr", np.uint16)
    out = tmp_path / "out.zarr"
    local = DistributedConfig(workers=2, **BLOCKS)
    with pytest.raises(RuntimeError, match="simulated crash"):
        # Each worker fails in the first z-row of its second block (4 calls per block).
        restore_blocks(
            tmp_path / "in.zarr", out, CrashingConv(crash_after=6), config=CONFIG, distributed=local
        )
    finished = {marker.name for marker in (out / ".vemrestore" / "blocks").iterdir()}
    assert 1 <= len(finished) <= 2
    finished_chunks = _chunk_mtimes(out, finished)
    written = [chunk for chunk in (out / "0" / "c").rglob("*") if chunk.is_file()]
    assert len(written) > len(finished_chunks), "the crash should leave partly written blocks"

    shared = DistributedConfig(scheduler=scheduler, **BLOCKS)
    resumed = restore_blocks(
        tmp_path / "in.zarr", out, CrashingConv(), config=CONFIG, distributed=shared
    )
    assert resumed.complete and resumed.skipped == len(finished)
    assert set(resumed.restored).isdisjoint(finished)
    assert _chunk_mtimes(out, finished) == finished_chunks

    restore_blocks(
        tmp_path / "in.zarr",
        tmp_path / "whole.zarr",
        CrashingConv(),
        config=CONFIG,
        distributed=shared,
    )
    np.testing.assert_array_equal(_read(out), _read(tmp_path / "whole.zarr"))


def test_resume_with_other_settings_is_refused_until_overwrite(tmp_path, scheduler):
    _make_zarr(tmp_path / "in.zarr", np.uint8)
    out = tmp_path / "out.zarr"
    model = CrashingConv()
    stopped = DistributedConfig(scheduler=scheduler, max_blocks=2, **BLOCKS)
    restore_blocks(tmp_path / "in.zarr", out, model, config=CONFIG, distributed=stopped)
    other = CONFIG.model_copy(update={"overlap": (2, 8, 4)})
    with pytest.raises(VemRestoreError, match=r"different settings \(overlap\).*--overwrite"):
        restore_blocks(tmp_path / "in.zarr", out, model, config=other, distributed=stopped)
    again = restore_blocks(
        tmp_path / "in.zarr", out, model, config=other, distributed=stopped, overwrite=True
    )
    assert again.skipped == 0 and len(again.restored) == 2


def test_block_too_large_for_the_worker_memory_is_refused(tmp_path):
    _make_zarr(tmp_path / "in.zarr", np.uint8)
    settings = DistributedConfig(workers=2, memory_per_worker="256MiB", **BLOCKS)
    with pytest.raises(VemRestoreError, match="GiB per worker.*smaller --block"):
        restore_blocks(
            tmp_path / "in.zarr",
            tmp_path / "out.zarr",
            CrashingConv(),
            config=CONFIG,
            distributed=settings,
        )
    assert not (tmp_path / "out.zarr").exists()


def test_output_over_the_input_is_refused_even_with_overwrite(tmp_path):
    volume = _make_zarr(tmp_path / "in.zarr", np.uint8)
    with pytest.raises(VemRestoreError, match="is, holds or lies inside the input"):
        restore_blocks(tmp_path / "in.zarr", tmp_path / "in.zarr", CrashingConv(), overwrite=True)
    np.testing.assert_array_equal(_read(tmp_path / "in.zarr"), volume)


def test_cli_restores_a_memory_mapped_tiff_on_a_scheduler(tmp_path, scheduler):
    runner = CliRunner()
    checkpoint = tmp_path / "identity.pt"
    save_checkpoint(checkpoint, create_model("identity", window=3), NormalizationConfig())
    volume = np.random.default_rng(3).integers(0, 65536, SHAPE, dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "scan.tif",
        volume,
        imagej=True,
        resolution=(1 / 8.0, 1 / 8.0),
        metadata={"spacing": 30.0, "unit": "nm", "axes": "ZYX"},
    )
    out = tmp_path / "out.zarr"
    args = ["denoise", tmp_path / "scan.tif", out, "--model", checkpoint, "--scheduler", scheduler]
    args += ["--block", "4,32,32", "--chunks", "2,16,16", "--tile", "3,32,32", "--quiet"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    with open_volume(out) as reader:
        assert reader.format == "ome-zarr" and reader.chunks == (2, 16, 16)
        np.testing.assert_allclose(reader.spec.voxel_size, (30.0, 8.0, 8.0), rtol=1e-4)
        np.testing.assert_array_equal(reader.read(slice(None)), volume)
    info = dict(zarr.open_group(str(out), mode="r").attrs)["vemrestore"]
    assert "incomplete" not in info and not (out / ".vemrestore").exists()
    model = info["provenance"]["model"]
    assert model["name"] == "identity" and model["params"] == {"window": 3}
    assert model["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert info["provenance"]["vemrestore_version"] and info["provenance"]["parameters"]["tile"]

    again = runner.invoke(app, [str(a) for a in args])
    assert again.exit_code == 2 and "already exists" in again.output


def test_cli_block_options_need_a_block_wise_run(tmp_path):
    checkpoint = tmp_path / "identity.pt"
    save_checkpoint(checkpoint, create_model("identity"), NormalizationConfig())
    tifffile.imwrite(
        tmp_path / "scan.tif", np.zeros((3, 16, 16), np.uint8), photometric="minisblack"
    )
    result = CliRunner().invoke(
        app,
        ["denoise", str(tmp_path / "scan.tif"), str(tmp_path / "out.tif")]
        + ["--model", str(checkpoint), "--workers", "2"],
    )
    assert result.exit_code == 2 and result.output.startswith("error: --workers")
    assert not (tmp_path / "out.tif").exists()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_block_output_does_not_depend_on_the_worker_thread_count(tmp_path, threads, one_thread):
    """A real U-Net (its 1×1 convolutions once moved by a rounding step with the thread
    count): workers with 1, 2 or 4 threads write what one single-threaded process does, to
    the bit (float32 output: no rounding to hide a difference)."""
    torch.manual_seed(1)
    checkpoint = Checkpoint(
        create_model("unet2p5d", window=1, base_channels=4, depth=3),
        NormalizationConfig(mode="dtype"),
    )
    volume = np.random.default_rng(3).random((2, 200, 190), dtype=np.float32)
    array = zarr.create_array(
        store=str(tmp_path / "in.zarr"), shape=volume.shape, chunks=(1, 100, 95), dtype=np.float32
    )
    array[:] = volume
    config = InferenceConfig(tile=(1, 160, 160), overlap=(0, 16, 16), batch_size=2, device="cpu")
    expected = restore(volume, checkpoint, config=config)
    summary = restore_blocks(
        tmp_path / "in.zarr",
        tmp_path / "out.zarr",
        checkpoint,
        config=config,
        distributed=DistributedConfig(
            workers=2, threads_per_worker=threads, block=(1, 100, 100), chunks=(1, 100, 100)
        ),
    )
    assert summary.complete and len(summary.restored) == 8
    np.testing.assert_array_equal(_read(tmp_path / "out.zarr"), expected)
