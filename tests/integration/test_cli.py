"""The command line: happy paths, and every kind of bad input gets one line, exit 2, no output."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

from vemrestore.api import restore_key_slices
from vemrestore.cli import app
from vemrestore.config import NormalizationConfig
from vemrestore.io import open_volume
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model

runner = CliRunner()


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "identity.pt"
    save_checkpoint(path, create_model("identity", window=3), NormalizationConfig())
    return path


@pytest.fixture
def volume_tif(tmp_path: Path, rng) -> Path:
    path = tmp_path / "scan.tif"
    data = rng.integers(0, 65536, size=(6, 50, 40), dtype=np.uint16)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 8.0, 1 / 8.0),
        metadata={"spacing": 30.0, "unit": "nm", "axes": "ZYX"},
    )
    return path


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _assert_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.output
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_denoise_identity_keeps_data_dtype_and_voxel_size(tmp_path, volume_tif, checkpoint):
    out = tmp_path / "restored.tif"
    result = _run(
        "denoise",
        volume_tif,
        out,
        "--model",
        checkpoint,
        "--tile",
        "3,32,32",
        "--overlap",
        "2,8,8",
        "--batch-size",
        "3",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(tifffile.imread(out), tifffile.imread(volume_tif))
    with open_volume(out) as reader:
        assert reader.dtype == np.uint16
        np.testing.assert_allclose(reader.spec.voxel_size, (30.0, 8.0, 8.0), rtol=1e-4)


def test_denoise_to_zarr_and_slice_folder(tmp_path, volume_tif, checkpoint):
    original = tifffile.imread(volume_tif)
    for out in (tmp_path / "restored.zarr", tmp_path / "restored_slices"):
        result = _run("denoise", volume_tif, out, "--model", checkpoint, "--quiet")
        assert result.exit_code == 0, result.output
        with open_volume(out) as reader:
            np.testing.assert_array_equal(reader.read(slice(None)), original)


def test_float32_output_on_request(tmp_path, volume_tif, checkpoint):
    out = tmp_path / "restored.tif"
    assert _run("denoise", volume_tif, out, "--model", checkpoint, "--float32", "-q").exit_code == 0
    restored = tifffile.imread(out)
    assert restored.dtype == np.float32
    np.testing.assert_allclose(restored, tifffile.imread(volume_tif), atol=0.02)


def test_info_reports_shape_dtype_and_voxel_size(volume_tif):
    result = _run("info", volume_tif)
    assert result.exit_code == 0, result.output
    assert "(6, 50, 40)" in result.output and "uint16" in result.output and "30" in result.output


@pytest.mark.parametrize("command", [[], ["denoise"], ["info"]])
def test_every_command_has_help(command):
    result = _run(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_missing_input(tmp_path, checkpoint):
    result = _run("denoise", tmp_path / "nothere.tif", tmp_path / "out.tif", "--model", checkpoint)
    _assert_user_error(result, "nothere.tif", "not found")
    assert not (tmp_path / "out.tif").exists()


def test_unreadable_input_a_folder_named_like_a_tiff(tmp_path, checkpoint):
    (tmp_path / "folder.tif").mkdir()
    before = _files(tmp_path)
    result = _run("denoise", tmp_path / "folder.tif", tmp_path / "out.tif", "--model", checkpoint)
    _assert_user_error(result, "folder.tif")
    assert _files(tmp_path) == before


def test_corrupt_tiff(tmp_path, checkpoint):
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(os.urandom(4096))
    before = _files(tmp_path)
    _assert_user_error(
        _run("denoise", bad, tmp_path / "out.tif", "--model", checkpoint), "corrupt.tif"
    )
    assert _files(tmp_path) == before


def test_unsupported_input_extension(tmp_path, checkpoint):
    bad = tmp_path / "image.jpg"
    bad.write_bytes(b"\xff\xd8\xff")
    _assert_user_error(
        _run("denoise", bad, tmp_path / "out.tif", "--model", checkpoint),
        "image.jpg",
        "unsupported",
    )


def test_unsupported_output_extension(tmp_path, volume_tif, checkpoint):
    before = _files(tmp_path)
    _assert_user_error(
        _run("denoise", volume_tif, tmp_path / "out.mrc", "--model", checkpoint),
        "out.mrc",
        "unsupported",
    )
    assert _files(tmp_path) == before


def test_rgb_input(tmp_path, checkpoint):
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    _assert_user_error(_run("denoise", rgb, tmp_path / "out.tif", "--model", checkpoint), "rgb.tif")
    assert not (tmp_path / "out.tif").exists()


def test_4d_input(tmp_path, checkpoint):
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, np.zeros((2, 3, 16, 16), np.uint8), photometric="minisblack")
    _assert_user_error(
        _run("denoise", path, tmp_path / "out.tif", "--model", checkpoint), "hyper.tif", "4D"
    )


def test_empty_volume(tmp_path, checkpoint):
    (tmp_path / "empty_slices").mkdir()
    _assert_user_error(
        _run("denoise", tmp_path / "empty_slices", tmp_path / "out.tif", "--model", checkpoint),
        "empty_slices",
    )
    assert not (tmp_path / "out.tif").exists()


def test_nan_in_float_input_leaves_no_output(tmp_path, checkpoint):
    data = np.random.default_rng(0).random((12, 20, 20), dtype=np.float32)
    data[9, 3, 4] = np.nan
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, data)
    before = _files(tmp_path)
    result = _run(
        "denoise",
        path,
        tmp_path / "out.tif",
        "--model",
        checkpoint,
        "--tile",
        "3,20,20",
        "--overlap",
        "0,0,0",
    )
    _assert_user_error(result, "float.tif", "NaN", "slice 9")
    assert _files(tmp_path) == before


def test_existing_output_needs_overwrite(tmp_path, volume_tif, checkpoint):
    out = tmp_path / "out.tif"
    out.write_bytes(b"keep me")
    _assert_user_error(
        _run("denoise", volume_tif, out, "--model", checkpoint), "out.tif", "--overwrite"
    )
    assert out.read_bytes() == b"keep me"
    assert (
        _run("denoise", volume_tif, out, "--model", checkpoint, "--overwrite", "-q").exit_code == 0
    )
    np.testing.assert_array_equal(tifffile.imread(out), tifffile.imread(volume_tif))


def test_missing_output_folder(tmp_path, volume_tif, checkpoint):
    result = _run(
        "denoise", volume_tif, tmp_path / "no" / "such" / "out.tif", "--model", checkpoint
    )
    _assert_user_error(result, "out.tif", "does not exist")


def test_checkpoint_that_is_not_a_vemrestore_checkpoint(tmp_path, volume_tif):
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(1000))
    for bad in (plain, garbage, tmp_path / "missing.pt"):
        result = _run("denoise", volume_tif, tmp_path / "out.tif", "--model", bad)
        _assert_user_error(result, bad.name)
    assert not (tmp_path / "out.tif").exists()


def test_checkpoint_with_code_is_refused_without_running_it(tmp_path, volume_tif):
    """A pickle that would run code on load must be refused by the weights-only loader."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "vemrestore-checkpoint", "payload": Exploit()}, evil)
    _assert_user_error(
        _run("denoise", volume_tif, tmp_path / "out.tif", "--model", evil), "evil.pt"
    )
    assert not marker.exists()


def test_bad_tile_option(tmp_path, volume_tif, checkpoint):
    _assert_user_error(
        _run("denoise", volume_tif, tmp_path / "o.tif", "--model", checkpoint, "--tile", "5,abc"),
        "--tile",
    )
    _assert_user_error(
        _run(
            "denoise",
            volume_tif,
            tmp_path / "o.tif",
            "--model",
            checkpoint,
            "--tile",
            "3,16,16",
            "--overlap",
            "1,16,2",
        ),
        "overlap",
    )


def test_interrupt_leaves_no_partial_output(tmp_path, volume_tif):
    """Ctrl-C in the middle of a run (simulated in the model) must leave no file behind."""
    from vemrestore import restore_file
    from vemrestore.config import InferenceConfig

    class InterruptAfterFirstBatch(torch.nn.Module):
        window = 3

        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 1:
                raise KeyboardInterrupt
            return x

    before = _files(tmp_path)
    for name in ("out.tif", "out.zarr", "out_slices"):
        model = InterruptAfterFirstBatch()
        with pytest.raises(KeyboardInterrupt):
            restore_file(
                volume_tif,
                tmp_path / name,
                model,
                config=InferenceConfig(tile=(3, 50, 40), overlap=(0, 0, 0), batch_size=1),
            )
        assert model.calls == 2
        assert _files(tmp_path) == before


def test_console_script_runs_as_a_process(tmp_path, volume_tif, checkpoint):
    out = tmp_path / "restored.tif"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "vemrestore",
            "denoise",
            str(tmp_path / "x.tif"),
            str(out),
            "--model",
            str(checkpoint),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
    good = subprocess.run(
        [
            sys.executable,
            "-m",
            "vemrestore",
            "denoise",
            str(volume_tif),
            str(out),
            "--model",
            str(checkpoint),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    np.testing.assert_array_equal(tifffile.imread(out), tifffile.imread(volume_tif))


def test_tile_depth_other_than_a_fixed_window_is_refused(tmp_path, volume_tif):
    checkpoint = tmp_path / "unet.pt"
    save_checkpoint(checkpoint, create_model("unet2p5d", window=5, depth=2), NormalizationConfig())
    result = _run(
        "denoise", volume_tif, tmp_path / "o.tif", "--model", checkpoint, "--tile", "3,32,32"
    )
    _assert_user_error(result, "exactly 5 slices", "tile depth of 5")


def test_denoise_key_slices_passes_keys_through(tmp_path: Path, rng) -> None:
    """A key-slice model is recognised from its checkpoint; keys are copied, others restored."""
    source = tmp_path / "acquisition.tif"
    data = rng.integers(0, 200, size=(11, 40, 30), dtype=np.uint8)
    tifffile.imwrite(source, data)
    model = tmp_path / "keys.pt"
    metadata = {"task": "key_slices", "config": {"key_slices": {"period": 4, "offset": 0}}}
    torch.manual_seed(0)
    network = create_model("unet2p5d", window=5, base_channels=4, depth=2)
    save_checkpoint(model, network, NormalizationConfig(), metadata)
    out = tmp_path / "restored.tif"
    result = _run("denoise", source, out, "--model", model, "--key-offset", "1", "-q")
    assert result.exit_code == 0, result.output
    restored = tifffile.imread(out)
    keys = [1, 5, 9]
    others = [z for z in range(11) if z not in keys]
    np.testing.assert_array_equal(restored[keys], data[keys])
    assert np.mean(restored[others] != data[others]) > 0.5
    np.testing.assert_array_equal(restored, restore_key_slices(data, model, period=4, key_offset=1))


def test_denoise_key_slices_refuses_a_model_of_another_period(tmp_path: Path, rng) -> None:
    source = tmp_path / "acquisition.tif"
    tifffile.imwrite(source, rng.integers(0, 200, size=(11, 40, 30), dtype=np.uint8))
    model = tmp_path / "window3.pt"
    save_checkpoint(model, create_model("identity", window=3), NormalizationConfig())
    out = tmp_path / "restored.tif"
    result = _run("denoise", source, out, "--model", model, "--key-slices", "4")
    _assert_user_error(result, "period 4", "window of 5")
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["supervised", "--resume", "run", "--fast", "f.tif"], "the run's saved config is used"),
        (["self-supervised", "--resume", "run", "--noisy", "n.tif"], "saved config is used"),
        (["self-supervised", "--noisy", "n.tif"], "-o/--output RUN is required"),
        (
            ["supervised", "--fast", "a.tif", "--fast", "b.tif", "--slow", "c.tif", "-o", "r"],
            "one --slow for every --fast",
        ),
    ],
)
def test_training_commands_refuse_inconsistent_run_options(args, message) -> None:
    _assert_user_error(_run("train", *args), message)
