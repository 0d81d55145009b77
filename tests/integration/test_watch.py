"""Live restoration: slices restored while a writer thread drops them into a folder equal the
restoration of the finished stack, bit for bit; a crash mid-stream resumes and ends identical."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from typer.testing import CliRunner

from vemrestore import api
from vemrestore.api.live import watch
from vemrestore.cli import app
from vemrestore.config import InferenceConfig, LiveConfig, NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.io import open_volume
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model

FAST = LiveConfig(poll_seconds=0.02, settle_seconds=0.05)
SHAPE = (13, 40, 36)


@pytest.fixture
def stack(rng) -> np.ndarray:
    return rng.integers(0, 256, size=SHAPE, dtype=np.uint8)


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model = create_model("unet2p5d", window=5, base_channels=4, depth=2)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model, NormalizationConfig())
    return path


def _write_slices(folder: Path, stack: np.ndarray, *, half_written: int | None = None) -> None:
    """Write the stack slice by slice, as a microscope would; ``half_written`` is first stored
    truncated and completed only after a pause longer than the settle time."""
    for z, image in enumerate(stack):
        target = folder / f"img_{z}.tif"  # natural order: img_2 before img_10
        if z == half_written:
            scratch = folder.parent / "scratch.tif"
            tifffile.imwrite(scratch, image)
            data = scratch.read_bytes()
            target.write_bytes(data[: len(data) // 2])
            time.sleep(0.4)
            with target.open("ab") as handle:
                handle.write(data[len(data) // 2 :])
        else:
            tifffile.imwrite(target, image)
        time.sleep(0.01)


def _acquire(folder: Path, stack: np.ndarray, **options) -> threading.Thread:
    folder.mkdir(exist_ok=True)

    def run() -> None:
        _write_slices(folder, stack, **options)
        (folder / "acquisition.done").touch()

    writer = threading.Thread(target=run)
    writer.start()
    return writer


def _finished_stack_restored(folder: Path, model, tmp_path: Path, config=None) -> np.ndarray:
    reference = tmp_path / "reference.tif"
    api.restore_file(folder, reference, model, config=config, overwrite=True)
    return tifffile.imread(reference)


@pytest.mark.parametrize("output_name", ["live.zarr", "live_slices"])
def test_live_output_equals_restoring_the_finished_stack(tmp_path, stack, checkpoint, output_name):
    folder = tmp_path / "acquisition"
    writer = _acquire(folder, stack, half_written=6)
    arrived: list[int] = []
    run = watch(
        folder,
        tmp_path / output_name,
        checkpoint,
        live=FAST,
        on_slice=lambda z, _: arrived.append(z),
    )
    writer.join()
    assert run.slices == SHAPE[0] and run.resumed_from == 0 and not run.not_arrived
    assert arrived == list(range(SHAPE[0]))
    expected = _finished_stack_restored(folder, checkpoint, tmp_path)
    with open_volume(tmp_path / output_name) as reader:
        live = reader.read(slice(None))
    assert np.abs(live.astype(int) - stack).max() > 0, "the model must change the data"
    np.testing.assert_array_equal(live, expected)


def test_tiles_with_halo_and_shifted_last_tile_stay_exact(tmp_path, stack, random_conv_model):
    """A z tiling whose halo and shifted last tile depend on the final depth."""
    config = InferenceConfig(tile=(7, 24, 24), overlap=(5, 8, 8), batch_size=3)
    folder = tmp_path / "acquisition"
    writer = _acquire(folder, stack)
    watch(folder, tmp_path / "live.zarr", random_conv_model, config=config, live=FAST)
    writer.join()
    expected = _finished_stack_restored(folder, random_conv_model, tmp_path, config)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "live.zarr" / "0")[:], expected)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("output_name", ["live.zarr", "live_slices"])
def test_restart_after_a_crash_resumes_and_ends_identical(tmp_path, stack, checkpoint, output_name):
    folder = tmp_path / "acquisition"
    writer = _acquire(folder, stack)

    def crash_after_four(z: int, _: np.ndarray) -> None:
        if z == 3:
            raise _Crash

    with pytest.raises(_Crash):
        watch(folder, tmp_path / output_name, checkpoint, live=FAST, on_slice=crash_after_four)
    writer.join()
    run = watch(folder, tmp_path / output_name, checkpoint, live=FAST)
    assert run.resumed_from == 4 and run.slices == SHAPE[0]
    expected = _finished_stack_restored(folder, checkpoint, tmp_path)
    with open_volume(tmp_path / output_name) as reader:
        np.testing.assert_array_equal(reader.read(slice(None)), expected)
    with pytest.raises(VemRestoreError, match="already exists"):
        watch(folder, tmp_path / output_name, checkpoint, live=FAST)


def test_a_restart_with_another_model_is_refused(tmp_path, stack, checkpoint):
    folder = tmp_path / "acquisition"
    writer = _acquire(folder, stack)
    with pytest.raises(_Crash):
        watch(folder, tmp_path / "live.zarr", checkpoint, live=FAST, on_slice=_raise(_Crash))
    writer.join()
    with pytest.raises(VemRestoreError, match="different settings"):
        watch(folder, tmp_path / "live.zarr", create_model("identity"), live=FAST)


def _raise(error: type[Exception]):
    def callback(z: int, image: np.ndarray) -> None:
        raise error

    return callback


def test_stop_event_ends_the_acquisition_and_flushes(tmp_path, stack):
    folder = tmp_path / "acquisition"
    folder.mkdir()
    _write_slices(folder, stack[:6])
    stop = threading.Event()
    stop.set()
    run = watch(folder, tmp_path / "out", create_model("identity"), live=FAST, stop=stop)
    assert run.slices == 6
    with open_volume(tmp_path / "out") as reader:
        np.testing.assert_array_equal(reader.read(slice(None)), stack[:6])
    assert not (tmp_path / "out" / ".vemrestore-watch.json").exists(), "marked finished"


def test_watch_cli_until_idle(tmp_path, stack, checkpoint):
    folder = tmp_path / "acquisition"
    folder.mkdir()
    _write_slices(folder, stack[:7])
    (folder / "notes.txt").write_text("not a slice")
    result = CliRunner().invoke(
        app,
        [
            "watch",
            str(folder),
            str(tmp_path / "live.zarr"),
            "--model",
            str(checkpoint),
            "--until-idle",
            "0.5",
            "--settle",
            "0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    expected = _finished_stack_restored(folder, checkpoint, tmp_path)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "live.zarr" / "0")[:], expected)


def test_watch_cli_errors_are_one_line(tmp_path, checkpoint):
    result = CliRunner().invoke(
        app, ["watch", str(tmp_path / "missing"), str(tmp_path / "out"), "--until-idle", "1"]
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:") and "input folder not found" in result.output


def test_mismatched_slice_is_named(tmp_path, stack):
    folder = tmp_path / "acquisition"
    folder.mkdir()
    _write_slices(folder, stack[:3])
    tifffile.imwrite(folder / "img_3.tif", stack[3, :20])
    with pytest.raises(VemRestoreError, match="img_3.tif: slice is"):
        watch(
            folder,
            tmp_path / "out",
            create_model("identity"),
            live=FAST.model_copy(update={"until_idle": 0.3}),
        )
