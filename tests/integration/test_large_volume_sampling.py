"""evaluate, calibrate and inspect read a bounded sample of a large volume, and say so."""

from __future__ import annotations

import numpy as np
import tifffile
from typer.testing import CliRunner

import vemrestore.io.sampling as sampling
from vemrestore.cli import app

runner = CliRunner()
SHAPE = (40, 64, 64)


def _budget_of_ten_slices(monkeypatch) -> None:
    monkeypatch.setattr(sampling, "SAMPLE_BYTES", 10 * SHAPE[1] * SHAPE[2])


def _noisy(seed: int, sigma: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = np.full(SHAPE, 120.0)
    return np.clip(clean + rng.normal(size=SHAPE) * sigma[:, None, None], 0, 255).astype(np.uint8)


def test_inspect_noise_samples_slices_and_names_them_by_their_number(tmp_path, monkeypatch):
    _budget_of_ten_slices(monkeypatch)
    sigma = np.full(SHAPE[0], 6.0)
    sigma[39] = 18.0  # the last slice is always in an evenly spaced sample
    tifffile.imwrite(tmp_path / "scan.tif", _noisy(0, sigma))
    result = runner.invoke(
        app, ["inspect", "noise", str(tmp_path / "scan.tif"), "--plot", str(tmp_path / "n.png")]
    )
    assert result.exit_code == 1, result.output
    assert "measured on 10 of 40 slices, evenly spaced" in result.output
    assert "noise: outlier slices 39" in result.output
    table = [line.split()[0] for line in result.output.splitlines()[2:12]]
    assert table[0] == "0" and table[-1] == "39"


def test_evaluate_and_calibrate_measure_a_sample(tmp_path, monkeypatch):
    _budget_of_ten_slices(monkeypatch)
    tifffile.imwrite(tmp_path / "restored.tif", _noisy(1, np.full(SHAPE[0], 2.0)))
    tifffile.imwrite(tmp_path / "slow.tif", _noisy(2, np.full(SHAPE[0], 1.0)))
    result = runner.invoke(
        app,
        ["evaluate", str(tmp_path / "restored.tif"), "--reference", str(tmp_path / "slow.tif")]
        + ["-o", str(tmp_path / "report")],
    )
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report" / "report.md").read_text()
    assert "(measured on 10 of 40 slices, evenly spaced)" in report.splitlines()[0]
    result = runner.invoke(app, ["calibrate", str(tmp_path / "restored.tif")])
    assert result.exit_code == 0, result.output
