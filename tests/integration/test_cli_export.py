"""``vemrestore export`` and ``vemrestore denoise --model package.zip`` from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

from vemrestore.cli import app
from vemrestore.config import NormalizationConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model

pytest.importorskip("bioimageio.core")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = create_model("unet2p5d", window=3, base_channels=4, depth=2)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model, NormalizationConfig())
    return path


def test_export_bioimageio_then_denoise_with_the_package(tmp_path, checkpoint, monkeypatch):
    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "cache"))
    data = (np.random.default_rng(3).random((6, 28, 24)) * 250).astype(np.uint8)
    tifffile.imwrite(tmp_path / "in.tif", data)

    result = run("export", checkpoint, "--format", "bioimageio", "--author", "A. Tester")
    assert result.exit_code == 0, result.output
    package = tmp_path / "tiny.zip"
    assert package.is_file()

    assert (
        run("denoise", tmp_path / "in.tif", tmp_path / "a.tif", "-m", checkpoint, "-q").exit_code
        == 0
    )
    result = run("denoise", tmp_path / "in.tif", tmp_path / "b.tif", "-m", package, "-q")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "b.tif"), tifffile.imread(tmp_path / "a.tif")
    )


def test_export_user_errors_exit_2_with_one_line(tmp_path, checkpoint):
    result = run("export", checkpoint, "--format", "tflite")
    assert result.exit_code == 2 and "error: --format tflite" in result.output
    (tmp_path / "tiny.onnx").write_bytes(b"")
    result = run("export", checkpoint, "-f", "onnx")
    assert result.exit_code == 2 and "already exists (use --overwrite" in result.output
    result = run("export", tmp_path / "missing.pt", "-f", "torchscript")
    assert result.exit_code == 2 and "checkpoint file not found" in result.output
