"""One plan for the API and the command line: ``restore_file`` and ``vemrestore denoise`` write
the same file for every kind of model, and a command opens its model file once."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

import vemrestore.model_io.files
from vemrestore.api import (
    restore,
    restore_array_file,
    restore_file,
    restore_key_slices,
    restore_sublattices,
)
from vemrestore.cli import app
from vemrestore.config import NormalizationConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model

runner = CliRunner()

KEY_SLICES = {"task": "key_slices", "config": {"key_slices": {"period": 4, "offset": 0}}}
SUBLATTICE = {"task": "self_supervised", "config": {"self_supervised": {"inference": "sublattice"}}}
PLAIN = {"task": "supervised", "config": {}}


def _model(path: Path, window: int, metadata: dict) -> Path:
    torch.manual_seed(0)
    network = create_model("unet2p5d", window=window, base_channels=4, depth=2)
    save_checkpoint(path, network, NormalizationConfig(), metadata)
    return path


@pytest.fixture
def acquisition(tmp_path: Path, rng) -> tuple[Path, np.ndarray]:
    data = rng.integers(0, 200, size=(9, 36, 28), dtype=np.uint8)
    path = tmp_path / "acquisition.tif"
    tifffile.imwrite(path, data)
    return path, data


def _denoise(*args: object) -> None:
    result = runner.invoke(app, ["denoise", *map(str, args)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("window", "metadata"), [(3, PLAIN), (5, KEY_SLICES), (1, SUBLATTICE)], ids=str
)
def test_api_and_cli_write_identical_files(tmp_path, acquisition, window, metadata) -> None:
    source, data = acquisition
    model = _model(tmp_path / "model.pt", window, metadata)
    restore_file(source, tmp_path / "api.tif", model)
    _denoise(source, tmp_path / "cli.tif", "--model", model, "-q")
    by_api, by_cli = tifffile.imread(tmp_path / "api.tif"), tifffile.imread(tmp_path / "cli.tif")
    np.testing.assert_array_equal(by_api, by_cli)
    if metadata is KEY_SLICES:  # the model's own mode, reached from the API too
        np.testing.assert_array_equal(
            by_api, restore_key_slices(data, model, period=4, key_offset=0)
        )
        np.testing.assert_array_equal(by_api[[0, 4, 8]], data[[0, 4, 8]])
    if metadata is SUBLATTICE:
        np.testing.assert_array_equal(by_api, restore_sublattices(data, model))


@pytest.mark.parametrize(
    ("window", "metadata"), [(3, PLAIN), (5, KEY_SLICES), (1, SUBLATTICE)], ids=str
)
def test_the_array_api_restores_as_denoise_does(tmp_path, acquisition, window, metadata) -> None:
    """``vemrestore.restore`` and ``restore_array_file`` (the napari widget's path) follow
    the model's plan too: key slices pass through, sub-lattice models restore by lattice."""
    source, data = acquisition
    model = _model(tmp_path / "model.pt", window, metadata)
    _denoise(source, tmp_path / "cli.tif", "--model", model, "-q")
    by_cli = tifffile.imread(tmp_path / "cli.tif")
    np.testing.assert_array_equal(restore(data, model), by_cli)
    restore_array_file(data, tmp_path / "array.tif", model)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "array.tif"), by_cli)


@pytest.mark.parametrize(
    ("export_format", "suffix", "needs"),
    [
        ("torchscript", ".torchscript.pt", None),
        ("onnx", ".onnx", "onnxruntime"),
        ("bioimageio", ".zip", "bioimageio.core"),
    ],
)
def test_api_and_cli_agree_on_an_exported_model(
    tmp_path, acquisition, export_format, suffix, needs
) -> None:
    from vemrestore.model_io.files import export_model

    if needs is not None:
        pytest.importorskip(needs)
    source, _ = acquisition
    exported = export_model(
        _model(tmp_path / "m.pt", 3, PLAIN), tmp_path / f"m{suffix}", export_format
    )
    trusted = export_format == "torchscript"  # TorchScript runs code when loaded
    restore_file(source, tmp_path / "api.tif", exported, trust_code=trusted)
    flags = ["--trust-model-code"] if trusted else []
    _denoise(source, tmp_path / "cli.tif", "--model", exported, *flags, "-q")
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "api.tif"), tifffile.imread(tmp_path / "cli.tif")
    )


@pytest.mark.parametrize(
    ("window", "metadata"), [(3, PLAIN), (5, KEY_SLICES), (1, SUBLATTICE)], ids=str
)
def test_denoise_opens_the_model_file_once(
    tmp_path, acquisition, monkeypatch, window, metadata
) -> None:
    source, _ = acquisition
    model = _model(tmp_path / "model.pt", window, metadata)
    opened: list[Path] = []
    load = vemrestore.model_io.files.load_checkpoint

    def counted(path, **options):
        opened.append(Path(path))
        return load(path, **options)

    monkeypatch.setattr(vemrestore.model_io.files, "load_checkpoint", counted)
    _denoise(source, tmp_path / "out.tif", "--model", model)  # noise check and summary too
    assert opened == [model]
