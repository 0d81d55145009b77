"""`denoise` states the input's noise level and warns outside the model's training range."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from vemrestore.api import check_noise
from vemrestore.cli import app
from vemrestore.config import NormalizationConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model
from vemrestore.simulate.family import ScanNoise, degrade

runner = CliRunner()


@pytest.fixture
def family_model(tmp_path: Path) -> Path:
    """An identity network that records a synthetic training range of 30-500 electrons."""
    path = tmp_path / "family.pt"
    metadata = {"config": {"synthetic": {"family": {"electrons": [30.0, 500.0]}}}}
    save_checkpoint(path, create_model("identity", window=1), NormalizationConfig(), metadata)
    return path


def _scan(tmp_path: Path, electrons: float) -> Path:
    y, x = np.mgrid[0:256, 0:256]
    clean = 0.1 + 0.8 * np.sin(x / 60.0) ** 2 * np.cos(y / 70.0) ** 2
    noisy = degrade(
        np.stack([clean] * 4), ScanNoise(electrons=electrons, bits=16), np.random.default_rng(0)
    )
    path = tmp_path / f"scan_{electrons:g}.tif"
    tifffile.imwrite(path, np.rint(noisy * 65535).astype(np.uint16), photometric="minisblack")
    return path


def test_noise_inside_the_trained_range_is_measured_and_accepted(tmp_path, family_model):
    check = check_noise(_scan(tmp_path, 80.0), family_model)
    assert check is not None and check.inside
    assert check.electrons == pytest.approx(80.0, rel=0.15)
    assert check.trained == (30.0, 500.0)
    assert "warning" not in check.message()


@pytest.mark.parametrize(("electrons", "word"), [(8.0, "noisier"), (20000.0, "cleaner")])
def test_noise_outside_the_range_is_a_warning_with_a_remedy(
    tmp_path, family_model, electrons, word
):
    scan = _scan(tmp_path, electrons)
    check = check_noise(scan, family_model)
    assert check is not None and not check.inside
    result = runner.invoke(
        app, ["denoise", str(scan), str(tmp_path / "out.tif"), "--model", str(family_model), "-q"]
    )
    assert result.exit_code == 0 and "warning" not in result.output  # -q: nothing said
    result = runner.invoke(
        app, ["denoise", str(scan), str(tmp_path / "out2.tif"), "--model", str(family_model)]
    )
    assert result.exit_code == 0, result.output
    assert "warning: input noise" in result.output and word in result.output
    assert "vemrestore train self-supervised" in result.output
