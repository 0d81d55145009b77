"""The fast-scan noise model and its calibration: simulate with known parameters, recover them."""

import json

import numpy as np
import pytest

from vemrestore.errors import VemRestoreError
from vemrestore.evaluation.noise import noise_correlation
from vemrestore.simulate import (
    NoiseProfile,
    calibrate_pair,
    calibrate_single,
    load_profile,
    save_profile,
    simulate_fast_scan,
)

TRUE = NoiseProfile(electrons_per_unit=200.0, read_noise=0.02, blur_tau=0.15, line_jitter=0.01)


def smooth_volume(shape=(4, 256, 256), width=0.05, seed=0) -> np.ndarray:
    """A float32 (Z, Y, X) field in 0.1..0.9, smooth in-plane."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fftn(rng.normal(size=shape), axes=(1, 2))
    fy = np.fft.fftfreq(shape[1])[:, None]
    fx = np.fft.fftfreq(shape[2])[None, :]
    field = np.real(np.fft.ifftn(spectrum * np.exp(-(fy**2 + fx**2) / width**2), axes=(1, 2)))
    return (0.1 + 0.8 * (field - field.min()) / (field.max() - field.min())).astype(np.float32)


def test_pair_calibration_recovers_known_parameters():
    clean = smooth_volume()
    slow = simulate_fast_scan(clean, 1, TRUE, seed=1)
    fast = simulate_fast_scan(clean, 8, TRUE, seed=2)
    fit = calibrate_pair(fast, slow, speedup=8)
    assert fit.profile.gain == pytest.approx(TRUE.gain, rel=0.10)
    assert fit.profile.read_noise == pytest.approx(TRUE.read_noise, rel=0.10)
    assert abs(fit.x_correlation - TRUE.blur_pole(8)) < 0.05
    assert fit.profile.blur_pole(8) == pytest.approx(TRUE.blur_pole(8), abs=0.05)
    assert fit.profile.line_jitter == pytest.approx(TRUE.line_jitter, rel=0.25)
    assert not fit.profile.inverted
    assert np.all(np.diff(fit.means) > 0) and len(fit.means) == len(fit.variances)


def test_noise_statistics_follow_the_profile():
    flat = np.full((2, 128, 512), 0.5, dtype=np.float32)
    profile = NoiseProfile(electrons_per_unit=100.0, read_noise=0.03, blur_tau=0.0)
    fast = simulate_fast_scan(flat, 4, profile, seed=0)
    assert fast.mean() == pytest.approx(0.5, abs=0.005)
    assert fast.var() == pytest.approx(4 / 100 * 0.5 + 0.03**2, rel=0.03)
    blurred = simulate_fast_scan(flat, 4, NoiseProfile(blur_tau=0.5), seed=0)
    rho_x, rho_y = noise_correlation(blurred[0].astype(np.float64))
    assert rho_x == pytest.approx(np.exp(-1 / (0.5 * 4)), abs=0.05)
    assert abs(rho_y) < 0.05


def test_simulation_is_seeded_keeps_dtype_and_places_key_slices():
    clean = (smooth_volume((8, 32, 32)) * 255).astype(np.uint8)
    profile = NoiseProfile(electrons_per_unit=20.0, line_jitter=0.02)
    first = simulate_fast_scan(clean, 8, profile, seed=3, key_period=4, key_offset=1)
    again = simulate_fast_scan(clean, 8, profile, seed=3, key_period=4, key_offset=1)
    other = simulate_fast_scan(clean, 8, profile, seed=4, key_period=4, key_offset=1)
    assert first.dtype == np.uint8 and first.shape == clean.shape
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    error = np.abs(first.astype(float) - clean).mean(axis=(1, 2))
    keys, fast = error[[1, 5]], np.delete(error, [1, 5])
    assert keys.max() < 0.6 * fast.min()  # key slices at speed-up 1: far less noise


def test_single_volume_calibration_on_flat_levels():
    levels = np.repeat(np.linspace(0.1, 0.9, 8), 32)[None, :, None] * np.ones((4, 256, 256))
    profile = NoiseProfile(electrons_per_unit=200.0, read_noise=0.02, blur_tau=0.0)
    scan = simulate_fast_scan(levels.astype(np.float32), 1, profile, seed=0)
    fit = calibrate_single(scan)
    assert fit.profile.gain == pytest.approx(profile.gain, rel=0.10)
    assert fit.profile.read_noise == pytest.approx(0.02, rel=0.15)
    inverted = NoiseProfile(electrons_per_unit=200.0, read_noise=0.02, inverted=True)
    fit = calibrate_single(simulate_fast_scan(levels.astype(np.float32), 1, inverted, seed=1))
    assert fit.profile.inverted
    assert fit.profile.gain == pytest.approx(profile.gain, rel=0.10)


def test_single_volume_calibration_leaves_clipped_levels_out():
    """A scan that saturates: the bright levels lose up to 40 % of their pixels to white."""
    levels = np.repeat(np.linspace(0.1, 0.95, 8), 32)[None, :, None] * np.ones((4, 256, 256))
    profile = NoiseProfile(electrons_per_unit=20.0, read_noise=0.02, blur_tau=0.0)
    scan = simulate_fast_scan(levels.astype(np.float32), 1, profile, seed=0)
    saturated = np.clip(np.rint(scan * 65535), 0, 65535).astype(np.uint16)
    fit = calibrate_single(saturated)
    assert fit.profile.gain == pytest.approx(profile.gain, rel=0.10)
    assert fit.clipped_bins >= 8 and fit.means.max() < 0.6
    assert "left out" in fit.summary()
    assert calibrate_single(scan).clipped_bins == 0  # floats beyond 0..1: nothing clipped


def test_single_volume_calibration_ignores_a_black_border():
    """Registration padding: a third of each slice at 0, flat and noiseless (once an error)."""
    levels = np.repeat(np.linspace(0.1, 0.9, 8), 32)[None, :, None] * np.ones((4, 256, 256))
    profile = NoiseProfile(electrons_per_unit=200.0, read_noise=0.02, blur_tau=0.0)
    scan = simulate_fast_scan(levels.astype(np.float32), 1, profile, seed=0)
    padded = np.clip(np.rint(scan * 255), 0, 255).astype(np.uint8)
    padded[:, :, :80] = 0
    fit = calibrate_single(padded)
    assert fit.clipped_bins > 0
    assert fit.profile.gain == pytest.approx(profile.gain, rel=0.25)


def test_pair_calibration_leaves_clipped_levels_out():
    clean = (smooth_volume() * 1.15).astype(np.float32)  # the brightest parts near white
    profile = NoiseProfile(electrons_per_unit=60.0, read_noise=0.02, blur_tau=0.15)
    fast, slow = (simulate_fast_scan(clean, k, profile, seed=k) for k in (8, 1))
    fit = calibrate_pair(
        *(np.clip(np.rint(v * 65535), 0, 65535).astype(np.uint16) for v in (fast, slow)), 8
    )
    assert fit.clipped_bins > 0
    assert fit.profile.gain == pytest.approx(profile.gain, rel=0.2)  # 0.55× with every bin


def test_profile_json_round_trip_and_strictness(tmp_path):
    path = save_profile(TRUE, tmp_path / "profile.json")
    assert load_profile(path) == TRUE
    path.write_text(json.dumps({**TRUE.model_dump(), "gian": 1.0}))
    with pytest.raises(VemRestoreError, match="profile.json: invalid noise profile"):
        load_profile(path)
    with pytest.raises(VemRestoreError, match="not found"):
        load_profile(tmp_path / "missing.json")


def test_pair_calibration_refuses_mismatched_pairs():
    with pytest.raises(VemRestoreError, match="same shape"):
        calibrate_pair(np.zeros((2, 32, 32)), np.zeros((2, 32, 16)), 4)
    with pytest.raises(VemRestoreError, match="speed-up above 1"):
        calibrate_pair(np.zeros((2, 32, 32)), np.zeros((2, 32, 32)), 1)
