"""FRC definitions and agreement of the slice-wise PSNR/SSIM with scikit-image."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vemrestore.evaluation import THRESHOLD, checkerboard_frc, evaluate, frc, volume_quality


def smooth_image(size=256, width=0.06, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    spectrum = np.fft.fft2(rng.normal(size=(size, size))) * np.exp(-(fy**2 + fx**2) / width**2)
    return np.real(np.fft.ifft2(spectrum))


def test_frc_of_an_image_with_itself_is_one():
    image = np.random.default_rng(0).normal(size=(96, 128))
    curve = frc(image, image)
    np.testing.assert_allclose(curve.values, 1.0, atol=1e-9)
    assert curve.frequencies[0] > 0 and curve.frequencies[-1] < 0.5
    assert curve.crossing() is None and curve.resolution_px() == pytest.approx(2.0, rel=0.02)


def test_frc_of_independent_noise_is_near_zero():
    rng = np.random.default_rng(1)
    curve = frc(rng.normal(size=(256, 256)), rng.normal(size=(256, 256)))
    assert abs(curve.values[4:].mean()) < 0.02
    assert np.abs(curve.values[16:]).max() < 0.2
    half = checkerboard_frc(rng.normal(size=(256, 256)))
    assert abs(half.values[4:].mean()) < 0.03


def test_checkerboard_frc_halves_and_frequency_axis():
    signal = smooth_image()
    clean = checkerboard_frc(signal, pixel_size=4.0)
    assert clean.frequencies[-1] < 0.25  # halves have 2× pixels: Nyquist 0.25 cycles/px
    carried = clean.frequencies < 0.12  # where the smooth signal has power
    assert clean.values[carried].min() > 0.95  # the half-pixel shift is undone
    noise = np.random.default_rng(2).normal(0, signal.std(), signal.shape)
    noisy = checkerboard_frc(signal + noise, pixel_size=4.0)
    assert 0.01 < noisy.crossing() < 0.25
    assert noisy.resolution_nm() == pytest.approx(4.0 * noisy.resolution_px())
    assert noisy.values[noisy.frequencies > noisy.crossing()][0] < THRESHOLD


def test_resolution_gets_worse_with_noise():
    signal = smooth_image(seed=3)
    rng = np.random.default_rng(4)
    low = frc(signal + rng.normal(0, 0.2 * signal.std(), signal.shape), signal)
    high = frc(signal + rng.normal(0, 2.0 * signal.std(), signal.shape), signal)
    assert low.resolution_px() < high.resolution_px()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_psnr_ssim_agree_with_scikit_image(dtype):
    rng = np.random.default_rng(5)
    if dtype == np.uint8:
        target = rng.integers(0, 256, (3, 48, 40)).astype(np.uint8)
        noisy = np.clip(target + rng.normal(0, 25, target.shape), 0, 255).astype(np.uint8)
        peak = 255.0
    else:
        target = rng.random((3, 48, 40)).astype(np.float32)
        noisy = (target + rng.normal(0, 0.1, target.shape)).astype(np.float32)
        peak = 1.0
    scores = volume_quality(noisy, target, peak)
    for z in range(3):
        expected_psnr = peak_signal_noise_ratio(target[z], noisy[z], data_range=peak)
        expected_ssim = structural_similarity(target[z], noisy[z], data_range=peak)
        assert scores.slice_psnr[z] == pytest.approx(expected_psnr, abs=1e-3)
        assert scores.slice_ssim[z] == pytest.approx(expected_ssim, abs=1e-4)
    whole = peak_signal_noise_ratio(target, noisy, data_range=peak)
    assert scores.psnr == pytest.approx(whole, abs=1e-3)
    assert scores.ssim == pytest.approx(scores.slice_ssim.mean())


def test_evaluate_with_and_without_reference():
    signal = np.stack([smooth_image(128, seed=s) for s in range(3)]).astype(np.float32)
    noisy = signal + np.random.default_rng(6).normal(0, signal.std(), signal.shape)
    noisy = noisy.astype(np.float32)
    result = evaluate(signal, reference=signal, noisy=noisy, pixel_size=5.0)
    assert result.scores.ssim == pytest.approx(1.0) and result.input_scores.ssim < 0.9
    assert result.unit == "nm" and result.slice_resolution.shape == (3,)
    assert result.noise["input"] > 5 * result.noise["restored"]
    blind = evaluate(noisy)
    assert blind.scores is None and blind.halves == {} and blind.baseline is None
