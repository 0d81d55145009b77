"""Noise inspection: outlier slices, uniform volumes, scan-line correlation, drift, plot."""

from pathlib import Path

import numpy as np
import pytest

from vemrestore.data.noisy import NoisyVolume, flatten_drift
from vemrestore.evaluation.noise import inspect_noise, plot_noise_report


def _smooth(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A smooth random phantom in 0.15..0.85 (float64)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fftn(rng.normal(size=shape))
    frequencies = np.meshgrid(*(np.fft.fftfreq(n) for n in shape), indexing="ij")
    radius2 = sum((f / w) ** 2 for f, w in zip(frequencies, (0.15, 0.06, 0.06), strict=True))
    field = np.real(np.fft.ifftn(spectrum * np.exp(-radius2)))
    return 0.15 + 0.7 * (field - field.min()) / (field.max() - field.min())


@pytest.fixture
def clean() -> np.ndarray:
    return _smooth((32, 96, 96))


def test_slices_with_twice_the_noise_are_flagged_and_a_uniform_volume_is_not(clean) -> None:
    rng = np.random.default_rng(1)
    sigma = np.full(32, 0.04)
    sigma[10:16] = 0.08
    report = inspect_noise(clean + rng.normal(size=clean.shape) * sigma[:, None, None])
    assert not report.uniform
    assert report.outlier_slices == [10, 11, 12, 13, 14, 15]
    assert {o.quantity for o in report.outliers} == {"noise"}
    assert "noise: outlier slices 10-15" in report.summary()
    assert report.noise[12] / np.median(report.noise) == pytest.approx(2.0, rel=0.1)

    uniform = inspect_noise(clean + rng.normal(size=clean.shape) * 0.04)
    assert uniform.uniform and not uniform.outliers
    assert np.median(uniform.noise) == pytest.approx(0.04, rel=0.05)
    assert uniform.summary()[-1] == "noise is uniform"


def test_noise_blurred_along_x_reads_as_strong_x_correlation(clean) -> None:
    rng = np.random.default_rng(2)
    white = rng.normal(size=(32, 96, 98))
    blurred = (white[..., :-2] + white[..., 1:-1] + white[..., 2:]) / np.sqrt(3)
    report = inspect_noise(clean + 0.04 * blurred)
    assert np.median(report.correlation_x) > 0.5
    assert abs(np.median(report.correlation_y)) < 0.1
    independent = inspect_noise(clean + rng.normal(0, 0.04, clean.shape))
    assert abs(np.median(independent.correlation_x)) < 0.05
    assert abs(np.median(independent.correlation_y)) < 0.05


def test_brightness_drift_is_reported_and_flattened(clean) -> None:
    rng = np.random.default_rng(3)
    drift = np.linspace(0.0, 0.2, 32)[:, None, None]  # brighter with depth
    noisy = (clean + drift + rng.normal(0, 0.04, clean.shape)).astype(np.float32)
    report = inspect_noise(noisy)
    assert "mean" in report.drifting and report.uniform, "the noise itself did not change"
    assert any(line.startswith("mean: drifts by +") for line in report.remarks())
    assert not report.problems()
    flattened = flatten_drift(NoisyVolume("v", noisy), report)
    assert flattened.noisy.dtype == np.float32
    assert inspect_noise(flattened.noisy).uniform


def test_a_single_image_is_inspected_and_plotted(clean, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    report = inspect_noise(clean[0] + rng.normal(0, 0.04, clean.shape[1:]))
    assert report.noise.shape == (1,) and report.uniform
    path = plot_noise_report(report, tmp_path / "noise.png", title="one slice")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="4×4"):
        inspect_noise(np.zeros((2, 3, 3)))


def test_contrast_drift_alone_leaves_the_noise_uniform(clean) -> None:
    rng = np.random.default_rng(5)
    gain = np.linspace(1.0, 1.6, 32)[:, None, None]  # contrast grows with depth
    report = inspect_noise((clean - 0.5) * gain + 0.5 + rng.normal(0, 0.04, clean.shape))
    assert "contrast" in report.drifting
    assert report.uniform and report.summary()[-1] == "noise is uniform"


def test_shot_noise_that_follows_brightness_is_not_a_change_but_a_real_one_is(clean) -> None:
    """Poisson noise: σ² ∝ brightness. Brightness doubling over the stack doubles the
    variance: the same detector. Doubling σ at constant brightness is a change."""
    rng = np.random.default_rng(6)
    brightness = np.linspace(1.0, 2.0, 32)[:, None, None]
    electrons = 100.0
    signal = clean * brightness
    shot = rng.poisson(signal * electrons) / electrons
    report = inspect_noise(shot)
    assert report.noise[-1] / report.noise[0] > 1.25, "the raw noise σ does drift"
    assert report.uniform, report.summary()

    sigma = np.linspace(0.03, 0.06, 32)[:, None, None]
    changed = inspect_noise(clean + rng.normal(size=clean.shape) * sigma)
    assert not changed.uniform and "noise" in changed.drifting
