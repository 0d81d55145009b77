import math

import numpy as np
import pytest

from vemrestore.simulate.calibration import calibrate_single
from vemrestore.simulate.family import NoiseFamily, ScanNoise, degrade
from vemrestore.tasks.synthetic import RecorruptedTask, SyntheticNoiseTask


def _smooth_field(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A slowly varying 0.15..0.85 image: almost no structure at the scale of the noise."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fftn(rng.normal(size=shape))
    frequencies = np.meshgrid(*(np.fft.fftfreq(n) for n in shape), indexing="ij")
    radius2 = sum((f / 0.01) ** 2 for f in frequencies[-2:])
    field = np.real(np.fft.ifftn(spectrum * np.exp(-radius2)))
    return 0.15 + 0.7 * (field - field.min()) / (field.max() - field.min())


def test_family_draws_and_degradations_are_seeded() -> None:
    family = NoiseFamily()
    draws = [family.draw(np.random.default_rng(3)) for _ in range(2)]
    assert draws[0] == draws[1]
    clean = _smooth_field((2, 64, 64), 0)
    noise = ScanNoise(electrons=30, lag=1.0, line_jitter=0.01, registered=True)
    first = degrade(clean, noise, np.random.default_rng(5))
    again = degrade(clean, noise, np.random.default_rng(5))
    other = degrade(clean, noise, np.random.default_rng(6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.dtype == np.float32 and first.shape == clean.shape


def test_family_spans_its_ranges() -> None:
    family = NoiseFamily(electrons=(5.0, 500.0), lag=(0.2, 1.5))
    rng = np.random.default_rng(0)
    draws = [family.draw(rng) for _ in range(400)]
    electrons = np.array([d.electrons for d in draws])
    assert electrons.min() >= 5 and electrons.max() <= 500
    assert electrons.min() < 10 and electrons.max() > 250  # log-uniform reaches both ends
    lags = [d.lag for d in draws if d.lag > 0]
    assert 0.2 <= min(lags) and max(lags) <= 1.5
    assert 0.2 < np.mean([d.registered for d in draws]) < 0.3
    assert {d.bits for d in draws} == {8, 16}


def test_family_rejects_reversed_ranges() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        NoiseFamily(lag=(1.0, 0.5))


@pytest.mark.parametrize(("electrons", "lag"), [(40.0, 0.0), (40.0, 1.2), (150.0, 0.8)])
def test_calibration_recovers_shot_noise_and_lag(electrons: float, lag: float) -> None:
    """What the family draws, ``vemrestore calibrate`` measures back within 10 %."""
    clean = _smooth_field((4, 256, 256), 1)
    noise = ScanNoise(electrons=electrons, lag=lag, bits=0)
    noisy = degrade(clean, noise, np.random.default_rng(2))
    profile = calibrate_single(noisy).profile
    assert profile.electrons_per_unit == pytest.approx(electrons, rel=0.1)
    assert profile.blur_pole(1.0) == pytest.approx(noise.pole, abs=0.1 * max(noise.pole, 0.5))


def test_synthetic_task_degrades_a_rescaled_clean_patch() -> None:
    task = SyntheticNoiseTask(NoiseFamily())
    source = _smooth_field((1, 120, 120), 4).astype(np.float32)
    inputs, target = task.make_example({"clean": source}, rng=np.random.default_rng(1))
    assert inputs.shape == target.shape == (1, 48, 48)
    assert 0.0 <= target.min() and target.max() <= 1.0
    assert np.abs(inputs - target).mean() > 0.005  # noise was added
    with pytest.raises(ValueError, match="Generator"):
        task.make_example({"clean": source})


def test_recorrupted_pairs_have_uncorrelated_noise_even_when_the_noise_is_lagged() -> None:
    """R2R's premise: input and target noise are uncorrelated when the recorruption copies the
    noise's variance and x-correlation; a pair with a wrong (white) model is not."""
    clean = np.full((8, 128, 128), 0.5)
    noise = ScanNoise(electrons=50, lag=1.0, bits=0)
    noisy = degrade(clean, noise, np.random.default_rng(0)).astype(np.float64)
    gain = 1.0 / noise.electrons

    def pair_correlation(pole: float) -> float:
        task = RecorruptedTask(gain=gain, read_variance=0.0, pole=pole)
        inputs, target = task.make_example({"noisy": noisy}, rng=np.random.default_rng(1))
        a, b = inputs - clean, target - clean
        lagged = (a[..., 1:] * b[..., :-1]).mean() + (a[..., :-1] * b[..., 1:]).mean()
        return float(((a * b).mean() + lagged) / np.sqrt((a * a).mean() * (b * b).mean()))

    assert abs(pair_correlation(noise.pole)) < 0.03
    assert abs(pair_correlation(0.0)) > 0.1
    assert math.isclose(noise.pole, math.exp(-1.0), rel_tol=1e-9)


def test_recorrupted_pairs_stay_uncorrelated_on_registered_scans() -> None:
    """Resampling a registered scan correlates neighbouring lines: calibration measures that
    y-correlation and R2R's recorruption copies it; without it input and target share noise."""
    ramp = np.linspace(0.1, 0.9, 128)[None, :, None]
    clean = np.broadcast_to(ramp, (8, 128, 128)).copy()
    noise = ScanNoise(electrons=50, lag=0.5, bits=0, registered=True)
    noisy = degrade(clean, noise, np.random.default_rng(3)).astype(np.float64)
    fit = calibrate_single(noisy)
    assert fit.y_correlation > 0.15

    def pair_correlation(y_correlation: float) -> float:
        task = RecorruptedTask(
            gain=fit.profile.gain,
            read_variance=fit.profile.read_noise**2,
            pole=fit.profile.blur_pole(1.0),
            y_correlation=y_correlation,
        )
        inputs, target = task.make_example({"noisy": noisy}, rng=np.random.default_rng(1))
        a, b = inputs - clean, target - clean
        shared = (a * b).mean()
        shared += (a[..., 1:] * b[..., :-1]).mean() + (a[..., :-1] * b[..., 1:]).mean()
        shared += (a[:, 1:] * b[:, :-1]).mean() + (a[:, :-1] * b[:, 1:]).mean()
        return float(shared / np.sqrt((a * a).mean() * (b * b).mean()))

    assert abs(pair_correlation(fit.y_correlation)) < 0.05
    assert pair_correlation(0.0) > 0.15
    with pytest.raises(ValueError, match="0 to 0.5"):
        RecorruptedTask(gain=0.02, read_variance=0.0, pole=0.0, y_correlation=0.6)
