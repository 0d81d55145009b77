"""The error of a restoration without a clean reference: Stein's unbiased risk estimate.

For noise ``n`` with covariance ``Σ`` (correlated along and across scan lines included) and
any restoration ``f``, SURE says the mean squared error against the unknown clean volume is
``E|f(y) − y|² − tr Σ + 2 tr(Σ ∂f/∂y)``, all per pixel. The last term is estimated by Monte
Carlo (Ramani et al., IEEE TIP 2008): for a draw ``m`` with covariance ``Σ``,
``E[mᵀ(f(y + εm) − f(y))] / ε → tr(Σ ∂f/∂y)``. So a noise model, not a slow scan, is enough
to rank two restorations of the user's own volume; a wrong noise level biases the estimate
(too little noise favours restorations that keep noise), a wrong correlation likewise.
``evaluation.baseline`` uses the closed form of the same estimate for one case, a linear
filter under white noise; this is the general one, for any network and correlated noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vemrestore.evaluation.metrics import psnr_from_mse

_EPSILON = 0.1
"""Perturbation, as a fraction of one noise draw: small enough for the network to respond
linearly, large enough to stay far above float32 rounding."""


@dataclass(frozen=True)
class RiskEstimate:
    """Estimated mean squared error (normalised units) and its PSNR with data range 1."""

    mse: float

    @property
    def psnr(self) -> float:
        return float(psnr_from_mse(max(self.mse, 1e-12)))  # an estimate may fall below 0


def estimated_risk(
    restore: Callable[[np.ndarray], np.ndarray],
    noisy: np.ndarray,
    draw_noise: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    *,
    rng: np.random.Generator,
    draws: int = 2,
    epsilon: float = _EPSILON,
) -> RiskEstimate:
    """SURE of ``restore`` on ``noisy`` (float, normalised), whose noise ``draw_noise(noisy,
    rng)`` samples (same shape, same covariance as the noise in ``noisy``)."""
    noisy = np.asarray(noisy, dtype=np.float64)
    restored = np.asarray(restore(noisy), dtype=np.float64)
    fit = float(np.mean((restored - noisy) ** 2))
    variance, divergence = 0.0, 0.0
    for _ in range(draws):
        noise = np.asarray(draw_noise(noisy, rng), dtype=np.float64)
        perturbed = np.asarray(restore(noisy + epsilon * noise), dtype=np.float64)
        variance += float(np.mean(noise * noise)) / draws
        divergence += float(np.mean(noise * (perturbed - restored))) / (epsilon * draws)
    return RiskEstimate(fit - variance + 2.0 * divergence)
