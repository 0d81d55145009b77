"""Outputs that cannot mislead: a Gaussian baseline beside every restoration, and a
no-reference measure that a blur cannot game, on simulated data with a known clean volume."""

import numpy as np
import pytest
from skimage.restoration import denoise_tv_chambolle

from vemrestore.evaluation import evaluate
from vemrestore.evaluation.baseline import SIGMAS, choose_gaussian
from vemrestore.evaluation.frc import FRCCurve, checkerboard_frc, mean_curve
from vemrestore.evaluation.report import report_markdown


def cells(shape: tuple[int, int, int], count: int = 40, seed: int = 0) -> np.ndarray:
    """EM-like phantom: flat compartments (Voronoi cells) separated by dark 2 px membranes."""
    rng = np.random.default_rng(seed)
    depth, height, width = shape
    centres = rng.uniform(0, [height, width], (count, 2))
    values = rng.uniform(0.2, 0.8, count)
    yy, xx = np.mgrid[0:height, 0:width]
    distances = np.sqrt((yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2)
    nearest = np.sort(distances, axis=-1)
    image = np.where(nearest[..., 1] - nearest[..., 0] < 2.0, 0.05, values[distances.argmin(-1)])
    return np.repeat(image[None], depth, 0).astype(np.float32)


def good_restoration(volume: np.ndarray) -> np.ndarray:
    """A nonlinear denoiser that keeps edges (total variation), slice by slice."""
    return np.stack([denoise_tv_chambolle(s, weight=0.08) for s in volume]).astype(np.float32)


@pytest.fixture(scope="module")
def simulated():
    clean = cells((3, 160, 160))
    noisy = clean + np.random.default_rng(1).normal(0, 0.15, clean.shape).astype(np.float32)
    return clean, noisy


def test_gaussian_sigma_from_the_noise_is_the_best_gaussian(simulated) -> None:
    clean, noisy = simulated
    chosen = choose_gaussian(noisy)
    errors = {
        s: np.mean((choose_gaussian(noisy).__class__(s, 0).apply(noisy) - clean) ** 2)
        for s in SIGMAS
    }
    assert chosen.noise == pytest.approx(0.15, rel=0.15)
    assert errors[chosen.sigma] == pytest.approx(min(errors.values()), rel=0.05)


def test_a_blur_cannot_beat_a_good_restoration_without_a_reference(simulated) -> None:
    clean, noisy = simulated
    restored = good_restoration(noisy)
    result = evaluate(restored, clean, noisy, restore_half=good_restoration)
    # against the truth the restoration beats the tuned Gaussian baseline ...
    assert result.scores.psnr > result.baseline_scores.psnr + 1.0
    # ... and the independent-halves FRC ranks them the same way; a blur scores the raw input
    halves = result.halves
    assert halves["restored"].mean > halves["baseline"].mean + 0.05
    assert halves["baseline"].mean == pytest.approx(halves["input"].mean, abs=0.01)


def test_the_checkerboard_frc_of_an_output_rewards_blur(simulated) -> None:
    """Why the measure above exists: the half-image FRC of a restored volume ranks the blur
    first (the restoration mixed the halves' noise)."""
    _, noisy = simulated
    blurred = choose_gaussian(noisy).apply(noisy)
    old = {
        name: mean_curve([checkerboard_frc(s) for s in volume]).mean
        for name, volume in (("blur", blurred), ("restored", good_restoration(noisy)))
    }
    assert old["blur"] > old["restored"]


def test_the_report_shows_the_baseline_and_says_when_frc_saturates(simulated) -> None:
    clean, noisy = simulated
    restored = good_restoration(noisy)
    result = evaluate(restored, clean, noisy, restore_half=good_restoration)
    text = report_markdown(result)
    assert f"Gaussian σ = {result.baseline.sigma:g} px" in text
    assert "| independent halves" in text
    flat = FRCCurve(np.linspace(0.01, 0.5, 20), np.full(20, 0.9))
    saturated = result.__class__(
        **{**result.__dict__, "frc_reference": flat, "frc_input_reference": flat}
    )
    assert "cannot separate" in report_markdown(saturated)
