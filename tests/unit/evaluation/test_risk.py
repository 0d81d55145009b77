"""SURE estimates a restoration's error from the noisy volume and a noise model alone."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, uniform_filter1d

from vemrestore.evaluation.risk import estimated_risk

SIGMA = 0.05


def _clean() -> np.ndarray:
    y, x = np.mgrid[0:96, 0:96] / 96.0
    plane = 0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y)
    return np.repeat(plane[np.newaxis], 4, axis=0)


def _white(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return SIGMA * rng.standard_normal(shape)


def _along_x(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Noise correlated between neighbours on a scan line (a 2-pixel running mean)."""
    return np.sqrt(2.0) * uniform_filter1d(_white(shape, rng), size=2, axis=-1)


@pytest.mark.parametrize("draw", [_white, _along_x], ids=["white", "x-correlated"])
@pytest.mark.parametrize("sigma", [0.0, 0.7, 1.5], ids=["identity", "blur0.7", "blur1.5"])
def test_sure_matches_the_true_error(draw, sigma: float) -> None:
    clean = _clean()
    noisy = clean + draw(clean.shape, np.random.default_rng(1))

    def restore(volume: np.ndarray) -> np.ndarray:
        return gaussian_filter(volume, sigma=(0, sigma, sigma)) if sigma else volume

    def draw_noise(volume: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return draw(volume.shape, rng)

    true = np.mean((restore(noisy) - clean) ** 2)
    estimate = estimated_risk(restore, noisy, draw_noise, rng=np.random.default_rng(2))
    # SURE is a difference of terms of the noise's size: its spread scales with σ², not MSE
    assert abs(estimate.mse - true) < 0.03 * SIGMA**2, (estimate.mse, true)


def test_sure_needs_the_noise_correlation_to_rank_right() -> None:
    """With x-correlated noise, a white noise model overrates a filter that keeps it."""
    clean = _clean()
    noisy = clean + _along_x(clean.shape, np.random.default_rng(3))

    def blur_x(volume: np.ndarray) -> np.ndarray:  # averages along x only: keeps the noise
        return gaussian_filter(volume, sigma=(0, 0, 1.0))

    def blur_both(volume: np.ndarray) -> np.ndarray:
        return gaussian_filter(volume, sigma=(0, 1.0, 1.0))

    true = {f: np.mean((f(noisy) - clean) ** 2) for f in (blur_x, blur_both)}
    assert true[blur_both] < true[blur_x]

    def risk(f, draw) -> float:
        def noise(volume, rng):
            return draw(volume.shape, rng)

        return estimated_risk(f, noisy, noise, rng=np.random.default_rng(4)).mse

    assert risk(blur_both, _along_x) < risk(blur_x, _along_x)
    assert abs(risk(blur_x, _white) - true[blur_x]) > abs(risk(blur_x, _along_x) - true[blur_x])
