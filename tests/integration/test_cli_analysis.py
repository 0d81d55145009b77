"""The analysis commands end to end on tiny synthetic volumes: simulate, calibrate, evaluate,
plan (with a checkpoint and with a short training run)."""

import json

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from vemrestore.api.analysis import (
    PlanSettings,
    TrainingBudget,
    acquisition_summary,
    plan_files,
    plan_summary,
)
from vemrestore.cli import app
from vemrestore.config import NormalizationConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model
from vemrestore.simulate import NoiseProfile, save_profile
from vemrestore.simulate.planner import Plan, PlanRow

runner = CliRunner()


@pytest.fixture
def pilot(tmp_path):
    """A 6×64×64 uint8 smooth phantom with a 50×4×4 nm voxel size."""
    rng = np.random.default_rng(0)
    spectrum = np.fft.fftn(rng.normal(size=(6, 64, 64)), axes=(1, 2))
    fy, fx = np.fft.fftfreq(64)[:, None], np.fft.fftfreq(64)[None, :]
    field = np.real(np.fft.ifftn(spectrum * np.exp(-(fy**2 + fx**2) / 0.1**2), axes=(1, 2)))
    volume = (30 + 190 * (field - field.min()) / (field.max() - field.min())).astype(np.uint8)
    path = tmp_path / "pilot.tif"
    tifffile.imwrite(
        path,
        volume,
        imagej=True,
        resolution=(0.25, 0.25),
        metadata={"spacing": 50.0, "unit": "nm", "axes": "ZYX"},
    )
    return path


@pytest.fixture
def identity(tmp_path):
    path = tmp_path / "identity.pt"
    save_checkpoint(path, create_model("identity", window=1), NormalizationConfig())
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_simulate_calibrate_evaluate(tmp_path, pilot):
    fast = tmp_path / "fast.tif"
    result = invoke("simulate", pilot, "--speedup", 4, "-o", fast, "--seed", 1)
    assert result.exit_code == 0, result.output
    volume = tifffile.imread(fast)
    assert volume.dtype == np.uint8 and volume.shape == (6, 64, 64)
    again = tmp_path / "again.tif"
    invoke("simulate", pilot, "--speedup", 4, "-o", again, "--seed", 1)
    np.testing.assert_array_equal(tifffile.imread(again), volume)

    profile = tmp_path / "profile.json"
    result = invoke("calibrate", fast, "--slow", pilot, "--speedup", 4, "-o", profile)
    assert result.exit_code == 0, result.output
    assert "electrons per unit intensity" in result.output
    assert json.loads(profile.read_text())["electrons_per_unit"] > 0
    assert (tmp_path / "profile.png").stat().st_size > 1000

    report = tmp_path / "report"
    result = invoke("evaluate", fast, "--reference", pilot, "--input", fast, "--out", report)
    assert result.exit_code == 0, result.output
    text = (report / "report.md").read_text()
    assert "FRC resolution (nm)" in text and "| input |" in text
    assert {p.name for p in report.iterdir()} == {
        ".vemrestore-output",
        "report.md",
        "crops.png",
        "frc.png",
        "slices.png",
    }
    blind = invoke("evaluate", fast, "--out", tmp_path / "blind")
    assert blind.exit_code == 0 and "give --input and --model" in blind.output


def test_evaluate_scores_the_model_on_independent_halves(tmp_path, pilot, identity):
    fast = tmp_path / "fast.tif"
    invoke("simulate", pilot, "--speedup", 4, "-o", fast)
    args = ("evaluate", fast, "--input", fast, "--model", identity, "--out", tmp_path / "r")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "independent-halves FRC" in lines["restored"] and "Gaussian" in lines
    # the identity restores each half to itself: it scores exactly the raw input
    assert lines["restored"].split("mean")[1] == lines["input"].split("mean")[1]
    assert "| restored |" in (tmp_path / "r" / "report.md").read_text()


def test_user_mistakes_give_one_error_line(tmp_path, pilot):
    result = invoke("simulate", tmp_path / "missing.tif", "--speedup", 2, "-o", tmp_path / "o.tif")
    assert result.exit_code == 2 and "missing.tif: file not found" in result.output
    result = invoke("simulate", pilot, "--speedup", 0.5, "-o", tmp_path / "o.tif")
    assert result.exit_code == 2 and "speed-up must be >= 1" in result.output
    result = invoke("plan", pilot, "--out", tmp_path / "p", "--speedups", "2,x")
    assert result.exit_code == 2 and "--speedups 2,x" in result.output
    assert not (tmp_path / "p").exists()


def test_plan_with_a_model_writes_curve_and_recommendation(tmp_path, pilot, identity):
    profile = save_profile(
        NoiseProfile(electrons_per_unit=400.0, read_noise=0.005), tmp_path / "profile.json"
    )
    out = tmp_path / "plan"
    result = invoke(
        "plan",
        pilot,
        "--out",
        out,
        "--speedups",
        "2,4,16",
        "--model",
        identity,
        "--profile",
        profile,
        "--target-ssim",
        0.5,
        "--volume-size",
        "1000,4096,4096",
        "--dwell-us",
        2,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert {"plan.csv", "plan.md", "plan.png", "profile.json"} <= {p.name for p in out.iterdir()}
    rows = (out / "plan.csv").read_text().splitlines()
    assert rows[0].startswith("speedup,") and len(rows) == 4
    ssim = [float(row.split(",")[5]) for row in rows[1:]]
    assert ssim[0] > ssim[1] > ssim[2]  # identity: quality falls with the speed-up
    assert "after restoration: 16×" in result.output
    # the identity restores nothing: the raw fast scan reaches the same speed-up, no credit
    assert "The raw fast scan reaches SSIM 0.5 up to 16×" in result.output
    assert "Restoration adds no speed-up beyond the raw fast scan" in result.output
    assert "restoration saves no time here" in result.output


def test_plan_trains_per_speedup_and_calibrates_from_the_pilot(tmp_path, pilot):
    settings = PlanSettings(
        speedups=[2.0, 8.0],
        budget=TrainingBudget(steps=4, max_time=None, batch_size=2),
        target_ssim=0.99,
    )
    plan, fit = plan_files(pilot, tmp_path / "plan", settings=settings)
    assert fit is not None and fit.method.startswith("single volume")
    assert [row.speedup for row in plan.rows] == [2.0, 8.0]
    assert plan.unit == "nm" and all(np.isfinite(row.resolution) for row in plan.rows)
    assert plan.recommended is None
    text = (tmp_path / "plan" / "plan.md").read_text()
    assert "No speed-up reaches" in text and "trained for only 4 steps" in text


def test_plan_credits_restoration_only_beyond_the_raw_fast_scan():
    rows = tuple(
        PlanRow(k, 30.0, raw, 4.0, 32.0, restored, 4.0)
        for k, raw, restored in ((2, 0.95, 0.97), (4, 0.91, 0.95), (8, 0.80, 0.92), (16, 0.6, 0.8))
    )
    plan = Plan(rows, 0.9, "px", NoiseProfile())
    assert plan.restoration_speedup == (4.0, 8.0)
    assert "Restoration adds 2× beyond the raw fast scan" in plan_summary(plan)
    text = acquisition_summary(plan, (100, 1000, 1000), 10.0)
    assert "4.2 min at 4× (raw fast scan) → 2.1 min at 8× with restoration, 2.1 min saved" in text
    noted = Plan(rows, 0.9, "px", NoiseProfile(), notes=("8×: the model was trained below",))
    assert plan_summary(noted).endswith("8×: the model was trained below")
