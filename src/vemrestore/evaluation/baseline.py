"""The classical baseline every restoration is shown beside: an in-plane Gaussian filter.

Its σ is chosen without a reference, from the input's noise estimate, by Stein's unbiased
risk estimate (SURE): for a linear filter ``f(y) = g * y`` and white noise of variance v,

    E ||f(y) - x||² / N  =  E ||f(y) - y||² / N  -  v  +  2 v g(0)

where ``g(0)`` is the kernel's centre weight, so the mean squared error against the unknown
clean image ``x`` is estimated from the noisy image alone, and the σ with the lowest estimate
wins. v comes from ``slice_noise`` (the 2×2 high-pass residual); noise correlated along the
scan line reads low there, which makes the choice err towards less blur, never more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from vemrestore.evaluation.noise import slice_noise

SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
"""Candidate σ (px); beyond 4 px EM structure (membranes of 2–5 px) is gone."""
_SAMPLE_SLICES = 8


@dataclass(frozen=True)
class GaussianBaseline:
    """The chosen σ (px, in-plane) and the noise σ it was chosen for (input intensity units)."""

    sigma: float
    noise: float

    def apply(self, volume: np.ndarray) -> np.ndarray:
        """Filter each (Y, X) slice of a (Z, Y, X) array; float64 out."""
        return np.stack([_blur(image, self.sigma) for image in np.asarray(volume)])


def choose_gaussian(volume: np.ndarray) -> GaussianBaseline:
    """The SURE-optimal Gaussian σ for a noisy (Z, Y, X) volume (any numeric dtype), from up
    to 8 evenly spaced slices."""
    volume = np.asarray(volume)
    picks = np.unique(np.linspace(0, len(volume) - 1, _SAMPLE_SLICES).round().astype(int))
    images = [volume[z].astype(np.float64) for z in picks]
    variance = float(np.median([slice_noise(image) ** 2 for image in images]))
    risks = [
        np.mean([np.mean((_blur(image, sigma) - image) ** 2) for image in images])
        + variance * (2.0 * _centre_weight(sigma) - 1.0)
        for sigma in SIGMAS
    ]
    return GaussianBaseline(sigma=SIGMAS[int(np.argmin(risks))], noise=float(np.sqrt(variance)))


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter(np.asarray(image, dtype=np.float64), sigma, mode="reflect")


def _centre_weight(sigma: float) -> float:
    """g(0) of the discrete kernel ``gaussian_filter`` applies (truncated, normalised)."""
    size = 2 * int(4 * sigma + 0.5) + 1
    impulse = np.zeros((size, size))
    impulse[size // 2, size // 2] = 1.0
    return float(_blur(impulse, sigma)[size // 2, size // 2])
