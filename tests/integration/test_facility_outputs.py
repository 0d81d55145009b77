"""What a facility gets back: its slice names, and a voxel size that is never invented."""

from __future__ import annotations

import json

import numpy as np
import tifffile
from typer.testing import CliRunner

from vemrestore.cli import app
from vemrestore.config import NormalizationConfig
from vemrestore.io import open_volume
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model

runner = CliRunner()


def _identity(tmp_path):
    path = tmp_path / "identity.pt"
    save_checkpoint(path, create_model("identity", window=1), NormalizationConfig())
    return path


def _denoise(*arguments: str):
    return runner.invoke(app, ["denoise", *arguments, "-q"])


def test_a_restored_slice_folder_keeps_the_microscope_file_names(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    names = ["Run3_z101", "Run3_z102", "Run3_z103"]
    for index, name in enumerate(names):
        tifffile.imwrite(scans / f"{name}.tif", np.full((20, 24), index * 40, np.uint8))
    result = _denoise(str(scans), str(tmp_path / "out"), "--model", str(_identity(tmp_path)))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert written == [f"{n}.tif" for n in names]
    assert tifffile.imread(tmp_path / "out" / "Run3_z103.tif").max() == 80  # order kept


def test_an_unknown_voxel_size_stays_unknown_in_ome_zarr(tmp_path):
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((4, 20, 24), np.uint8), photometric="minisblack")
    result = _denoise(
        str(tmp_path / "in.tif"), str(tmp_path / "out.zarr"), "--model", str(_identity(tmp_path))
    )
    assert result.exit_code == 0, result.output
    with open_volume(tmp_path / "out.zarr") as reader:
        assert reader.spec.voxel_size is None
    axes = json.loads((tmp_path / "out.zarr" / "zarr.json").read_text())["attributes"]["ome"][
        "multiscales"
    ][0]["axes"]
    assert all("unit" not in axis for axis in axes), "a scale of 1 is pixels, not nanometres"


def test_voxel_size_option_sets_the_output_voxel_size(tmp_path):
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((4, 20, 24), np.uint8), photometric="minisblack")
    model = str(_identity(tmp_path))
    for output in ("out.zarr", "out.tif"):
        result = _denoise(
            str(tmp_path / "in.tif"), str(tmp_path / output), "--model", model,
            "--voxel-size", "30,5,5",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        with open_volume(tmp_path / output) as reader:
            assert np.allclose(reader.spec.voxel_size, (30, 5, 5))
    result = _denoise(
        str(tmp_path / "in.tif"), str(tmp_path / "bad.zarr"), "--model", model,
        "--voxel-size", "30,-5,nan",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: --voxel-size 30,-5,nan")
    assert not (tmp_path / "bad.zarr").exists()
