"""Estimate a ``NoiseProfile`` from data: a registered fast/slow pair, or one noisy volume.

Both fit the signal-dependent noise variance as a straight line over binned local means,
``variance = slope * mean + intercept`` (normalised units), and keep the binned points so the
fit can be drawn and judged.

Pair (``calibrate_pair``), fast scan ``k`` times faster than the slow one:

1. the x-correlation ``a`` is the root of ``corr_x(fast - scan_filter(slow, a)) = a``: at the
   true ``a`` the residual is the filtered noise difference, whose lag-1 correlation is
   exactly ``a`` whatever the noise levels; a wrong ``a`` leaves correlated signal in it;
2. ``w = unscan_filter(fast, a) - slow`` is then white noise ``n_fast - n_slow`` (plus a
   line offset, whose spread gives ``line_jitter``) with variance
   ``gain (k + 1) s + 2 read_noise²``;
3. ``s`` is read from the slow scan's 8 neighbours of each pixel (not the pixel itself, so
   the slow scan's noise in ``w`` does not leak into the abscissa).

Single volume (``calibrate_single``), the scan taken as the reference (speed-up 1), after
Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for single-image raw
data" (2008): per 2×2 block, the high-pass ``(p00 - p01 - p10 + p11) / 2`` carries the noise
variance and the mean of the 8 neighbouring blocks the local signal; a robust (MAD) variance
per bin keeps edges out. The lag-1 x-correlation ``ρ`` of the noise (``noise_correlation``)
is read as detector blur, and the variances are corrected by it; a lag-1 y-correlation (scans
resampled when registered correlate neighbouring lines too) is kept as ``y_correlation`` and
corrected for as well, since the 2×2 high-pass sees ``(1 - ρx)(1 - ρy)`` of the variance.
A variance that falls with brightness is read as inverted contrast (``NoiseProfile.inverted``).
Line jitter is not estimated from a single volume.

Both leave out of the fit the intensity bins where more than 1 % of the pixels sit at the
volume's lowest or highest value: a saturated detector (or a range too narrow for the noise)
clips the noise there and hides variance, which flattens the fitted line (a 5-electron scan
with 3-4 % of its pixels clipped at white was read as 6.4-10.5 electrons).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.optimize import brentq

from vemrestore.errors import VemRestoreError
from vemrestore.evaluation.noise import noise_correlation
from vemrestore.simulate.noise import scan_filter, unscan_filter
from vemrestore.simulate.profile import NoiseProfile, blur_tau_from_pole, normalisation_scale

logger = logging.getLogger(__name__)

_MAD_TO_SIGMA = 1.4826
_MIN_BIN = 64
"""Fewest samples a bin needs to count in the fit."""
_MAX_POLE = 0.98
_MIN_POLE = 0.05
"""Below this, a single-volume x-correlation is read as estimation scatter, not blur."""
_MIN_Y_CORRELATION = 0.1
"""Below this a single-volume y-correlation is read as scatter: at weak noise the signal leaks
into the estimate (0.09 measured on a 500-electron SBEM crop whose noise has none, 0.12 on a
registered FIB-SEM scan that has 0.115: the calibration crops of benchmarks/generalization.py)."""
_MAX_Y_CORRELATION = 0.5
"""The most a two-tap filter along y (``RecorruptedTask``'s model of it) can give."""
_MAX_CLIPPED_SHARE = 0.01
"""A bin with more of its pixels at the ends of the range than this is left out of the fit:
chosen on the calibration crops of benchmarks/generalization.py (5 electrons, 16 bit: 4.7
instead of 6.4 fitted on SBEM; 3 % and 2 % gave 5.0 and 4.8 there, 6.3 and 7.1 on FIB-SEM)."""
_MIN_FIT_BINS = 4
"""Where clipping would leave fewer bins, the least clipped ones are kept."""


@dataclass(frozen=True)
class CalibrationFit:
    """A fitted profile and the evidence: binned (mean, variance) points, (B,) float64 arrays.

    ``slope``/``intercept`` are the fitted line through ``variances`` over ``means``;
    ``x_correlation`` the lag-1 noise correlation along x at ``speedup``; ``y_correlation``
    along y (single volumes only; 0 where it is within estimation scatter);
    ``clipped_bins`` how many bins were left out for clipping (not in ``means``).
    """

    profile: NoiseProfile
    method: str
    speedup: float
    means: np.ndarray
    variances: np.ndarray
    counts: np.ndarray
    slope: float
    intercept: float
    x_correlation: float
    y_correlation: float = 0.0
    clipped_bins: int = 0

    def fitted(self, means: np.ndarray) -> np.ndarray:
        """The fitted variance at ``means``."""
        return self.slope * np.asarray(means) + self.intercept

    def summary(self) -> str:
        """A few lines: the method, the fitted line and the resulting profile."""
        lines = [
            f"calibration: {self.method}, speed-up {self.speedup:g}, {len(self.means)} bins",
            f"variance = {self.slope:.4g} * mean + {self.intercept:.4g} (normalised units)",
            f"x-correlation of the noise {self.x_correlation:.3f}, "
            f"y-correlation {self.y_correlation:.3f}",
            f"profile: {self.profile.describe()}",
        ]
        if self.clipped_bins:
            lines.insert(
                1,
                f"{self.clipped_bins} more bins left out: over {_MAX_CLIPPED_SHARE:.0%} of their "
                "pixels at the ends of the range (clipped)",
            )
        return "\n".join(lines)


def calibrate_pair(
    fast: np.ndarray, slow: np.ndarray, speedup: float, bins: int = 24
) -> CalibrationFit:
    """Fit a profile to a registered pair: (Z, Y, X) or (Y, X) arrays, same shape and dtype.

    ``fast`` was scanned ``speedup`` (> 1) times faster than ``slow`` (the reference).
    """
    fast, slow = _as_volume(fast), _as_volume(slow)
    if fast.shape != slow.shape or fast.dtype != slow.dtype:
        raise VemRestoreError(
            f"fast {fast.shape} {fast.dtype} and slow {slow.shape} {slow.dtype}: a pair needs "
            "the same shape and dtype"
        )
    if speedup <= 1:
        raise VemRestoreError(f"speed-up {speedup}: a fast/slow pair needs a speed-up above 1")
    scale = normalisation_scale(fast.dtype)
    fast = fast.astype(np.float64) / scale
    slow = slow.astype(np.float64) / scale
    pole = _pair_pole(fast, slow)
    noise = unscan_filter(fast, pole) - slow
    line_means = noise.mean(axis=-1, keepdims=True)
    within = float(noise.var(axis=-1).mean())
    jitter_var = float(line_means.var()) - within / noise.shape[-1]
    noise = noise - line_means
    signal = _neighbour_mean(slow)
    clipped = _at_range_ends(fast) | _at_range_ends(slow)
    means, variances, counts, left_out = _binned_variance(
        signal, noise, clipped, bins=bins, robust=False
    )
    slope, intercept = _fit_line(means, variances, counts)
    gain, offset, inverted = _poisson_part(slope, intercept)
    gain /= speedup + 1.0
    profile = NoiseProfile(
        electrons_per_unit=1.0 / gain,
        read_noise=math.sqrt(max(offset / 2.0, 0.0)),
        blur_tau=blur_tau_from_pole(pole, speedup),
        line_jitter=math.sqrt(max(jitter_var, 0.0)),
        inverted=inverted,
    )
    return CalibrationFit(
        profile,
        "fast/slow pair",
        speedup,
        means,
        variances,
        counts,
        slope,
        intercept,
        pole,
        clipped_bins=left_out,
    )


def calibrate_single(volume: np.ndarray, bins: int = 24) -> CalibrationFit:
    """Fit a Poisson-Gaussian profile to one noisy (Z, Y, X) or (Y, X) scan (speed-up 1)."""
    volume = _as_volume(volume)
    if min(volume.shape[1:]) < 16:
        raise VemRestoreError(f"shape {volume.shape}: slices need at least 16×16 pixels")
    data = volume.astype(np.float64) / normalisation_scale(volume.dtype)
    rho, rho_y = np.median([noise_correlation(plane) for plane in data], axis=0).tolist()
    pole = rho if rho > _MIN_POLE else 0.0
    y_correlation = min(rho_y, _MAX_Y_CORRELATION) if rho_y > _MIN_Y_CORRELATION else 0.0
    height, width = (data.shape[1] // 2) * 2, (data.shape[2] // 2) * 2
    d = data[:, :height, :width]
    high = (d[:, 0::2, 0::2] - d[:, 0::2, 1::2] - d[:, 1::2, 0::2] + d[:, 1::2, 1::2]) / 2.0
    blocks = _block_means(d)
    clipped = _block_means(_at_range_ends(d).astype(np.float64))
    signal = _neighbour_mean(blocks)
    smooth = _smooth_blocks(blocks)
    means, variances, counts, left_out = _binned_variance(
        signal[smooth], high[smooth], clipped[smooth], bins=bins, robust=True
    )
    # high-pass variance = σ²_filtered (1 - ρ); σ²_filtered = σ² (1 - a) / (1 + a)
    correction = (1.0 - pole) * (1.0 - pole) / (1.0 + pole) * (1.0 - y_correlation)
    variances = variances / correction
    slope, intercept = _fit_line(means, variances, counts)
    gain, offset, inverted = _poisson_part(slope, intercept)
    profile = NoiseProfile(
        electrons_per_unit=1.0 / gain,
        read_noise=math.sqrt(max(offset, 0.0)),
        blur_tau=blur_tau_from_pole(pole, 1.0),
        inverted=inverted,
    )
    return CalibrationFit(
        profile,
        "single volume (Poisson-Gaussian)",
        1.0,
        means,
        variances,
        counts,
        slope,
        intercept,
        rho,
        y_correlation,
        clipped_bins=left_out,
    )


def _poisson_part(slope: float, intercept: float) -> tuple[float, float, bool]:
    """(gain, variance at zero electrons, inverted) of a fitted line.

    A variance falling with brightness means inverted contrast: in ``u = 1 - mean`` the line
    is ``-slope * u + (intercept + slope)``.
    """
    if abs(slope) < 1e-12:
        raise VemRestoreError(
            "no signal-dependent noise found (variance does not change with intensity); "
            "calibrate from a fast/slow pair instead"
        )
    inverted = slope < 0
    gain, offset = (-slope, intercept + slope) if inverted else (slope, intercept)
    if offset < 0:
        logger.warning(
            "negative variance at zero electrons (%.3g, a black-level offset): read noise 0",
            offset,
        )
    return gain, offset, inverted


def _as_volume(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise VemRestoreError(f"shape {array.shape}: expected a (Z, Y, X) or (Y, X) volume")
    return array


def _row_correlation(residual: np.ndarray) -> float:
    """Lag-1 correlation along x of ``residual`` after removing each line's mean."""
    centred = residual - residual.mean(axis=-1, keepdims=True)
    a, b = centred[..., :-1], centred[..., 1:]
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def _pair_pole(fast: np.ndarray, slow: np.ndarray) -> float:
    def excess(pole: float) -> float:
        return _row_correlation(fast - scan_filter(slow, pole)) - pole

    if excess(0.0) <= 0.0:
        return 0.0
    if excess(_MAX_POLE) >= 0.0:
        logger.warning("x-correlation at the limit %.2f: is the pair registered?", _MAX_POLE)
        return _MAX_POLE
    return float(brentq(excess, 0.0, _MAX_POLE, xtol=1e-4))


def _neighbour_mean(volume: np.ndarray) -> np.ndarray:
    """Mean of each pixel's 8 neighbours in its slice (edges reflected)."""
    box = uniform_filter(volume, size=(1, 3, 3), mode="reflect")
    return (9.0 * box - volume) / 8.0


def _smooth_blocks(blocks: np.ndarray) -> np.ndarray:
    """Mask of the blocks whose local gradient is below the median (the flatter half).

    The gradient is taken between the 4 neighbouring blocks, never the block itself, so the
    selection does not depend on the block's own noise (no bias toward quiet blocks).
    """
    padded = np.pad(blocks, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    gradient_y = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    gradient_x = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    magnitude = np.hypot(gradient_y, gradient_x)
    return magnitude <= np.median(magnitude)


def _block_means(volume: np.ndarray) -> np.ndarray:
    """The mean of each 2×2 block of a (Z, 2Y, 2X) array."""
    return (
        volume[:, 0::2, 0::2]
        + volume[:, 0::2, 1::2]
        + volume[:, 1::2, 0::2]
        + volume[:, 1::2, 1::2]
    ) / 4.0


def _at_range_ends(volume: np.ndarray) -> np.ndarray:
    """Pixels at the volume's lowest or highest value: where a scan clips, many sit there."""
    return (volume <= volume.min()) | (volume >= volume.max())


def _binned_variance(
    signal: np.ndarray, noise: np.ndarray, clipped: np.ndarray, *, bins: int, robust: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Noise variance in equal-count bins of ``signal``: (means, variances, counts, bins left
    out), ``clipped`` the share of each sample's pixels at the ends of the range."""
    signal, noise, clipped = signal.ravel(), noise.ravel(), clipped.ravel()
    order = np.argsort(signal, kind="stable")
    groups = [group for group in np.array_split(order, bins) if len(group) >= _MIN_BIN]
    if len(groups) < 2:
        raise VemRestoreError(
            f"{signal.size} pixels: too few to fit the noise (need {2 * _MIN_BIN})"
        )
    shares = np.array([clipped[group].mean() for group in groups])
    fit_bins = max(int((shares <= _MAX_CLIPPED_SHARE).sum()), min(_MIN_FIT_BINS, len(groups)))
    kept = np.sort(np.argsort(shares, kind="stable")[:fit_bins])
    means, variances, counts = [], [], []
    for group in (groups[index] for index in kept):
        values = noise[group]
        if robust:
            centre = np.median(values)
            variance = (_MAD_TO_SIGMA * np.median(np.abs(values - centre))) ** 2
        else:
            variance = values.var(ddof=1)
        means.append(signal[group].mean())
        variances.append(variance)
        counts.append(len(group))
    return np.array(means), np.array(variances), np.array(counts), len(groups) - fit_bins


def _fit_line(means: np.ndarray, variances: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Weighted least squares; a sample variance's σ is ∝ variance / sqrt(count)."""
    weights = np.sqrt(counts) / np.maximum(variances, 1e-12)
    slope, intercept = np.polyfit(means, variances, 1, w=weights)
    return float(slope), float(intercept)
