"""Objectives built on a noise model rather than a recorded pair.

``SyntheticNoiseTask`` (the generalist): clean patches of many sources, each degraded by a fresh
draw of a ``NoiseFamily`` and varied in brightness, contrast, polarity and pixel size, so one
network meets the breadth of fast-scan conditions and specimens a facility brings.

``RecorruptedTask`` (self-supervised, after Pang et al., "Recorrupted-to-Recorrupted", CVPR
2021): a noisy patch ``y`` and a fresh noise draw ``z`` with the noise's own covariance give
input ``y + α z`` and target ``y − z / α``, whose noises are uncorrelated; minimising the MSE
between them therefore trains toward the clean signal. Unlike sub-lattice pairs it works at
full resolution and stays valid for correlated noise, as long as ``z`` copies the
correlation: along the scan line the calibrated pole does, across lines (scans resampled when
registered) a two-tap filter with the calibrated lag-1 y-correlation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from vemrestore.simulate.calibration import CalibrationFit
from vemrestore.simulate.family import NoiseFamily, degrade
from vemrestore.simulate.noise import scan_filter

_MAX_SCALE = 2.5
_MIN_SCALE = 1.25
"""Pixel-size change of the generalist's augmentation: a source region 1.25-2.5 times the patch
is averaged down to it. Always down: the clean sources carry their own noise (σ 3-6 grey
levels), which a target keeps and which the network would learn to keep; averaging down
lowers it 1.25-2.5 times, and the specimen is seen at another pixel size."""
_VALIDATION_STREAM = 7


def _require(rng: np.random.Generator | None, task: str) -> np.random.Generator:
    if rng is None:
        raise ValueError(f"the {task} task draws noise: pass a seeded numpy Generator")
    return rng


class _DrawnNoiseTask:
    """What both tasks share: validation examples are drawn like training ones (from the
    fixed validation generator), and every slice of the window is scored."""

    name: str

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def validation_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.make_example(patch, _require(rng, self.name))

    def scored_slices(self, window: int) -> slice:
        return slice(0, window)


class SyntheticNoiseTask(_DrawnNoiseTask):
    """Clean source windows in, (degraded, clean) out; the degradation is drawn per patch."""

    name = "synthetic"
    symmetric = False

    def __init__(self, family: NoiseFamily) -> None:
        self.family = family

    def source_extent(self, window: int, patch_size: tuple[int, int]) -> tuple[int, int, int]:
        return (window, *(math.ceil(_MAX_SCALE * p) for p in patch_size))

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(D, 2.5H, 2.5W) ``clean`` → (D, H, W) degraded input and clean target, float32."""
        rng = _require(rng, self.name)
        clean = _photometric(_rescaled(patch["clean"], rng), rng)
        return degrade(clean, self.family.draw(rng), rng), clean


def _rescaled(source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random (D, H, W) crop of a (D, ⌈2.5H⌉, ⌈2.5W⌉) source region, averaged down by a
    random factor in [1.25, 2.5] (anti-aliased)."""
    depth, height, width = source.shape
    out_h, out_w = round(height / _MAX_SCALE), round(width / _MAX_SCALE)
    scale = float(np.exp(rng.uniform(np.log(_MIN_SCALE), np.log(_MAX_SCALE))))
    crop_h, crop_w = max(2, round(out_h * scale)), max(2, round(out_w * scale))
    y0 = int(rng.integers(0, height - crop_h + 1))
    x0 = int(rng.integers(0, width - crop_w + 1))
    crop = torch.from_numpy(np.ascontiguousarray(source[:, y0 : y0 + crop_h, x0 : x0 + crop_w]))
    resized = F.interpolate(
        crop[None].float(), size=(out_h, out_w), mode="bilinear", antialias=True
    )[0]
    return resized.numpy()


def _photometric(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random polarity, contrast and brightness, kept inside 0..1: detectors and stains differ."""
    if rng.random() < 0.5:
        clean = 1.0 - clean
    low, high = float(clean.min()), float(clean.max())
    span = max(high - low, 1e-3)
    new_span = min(1.0, span * float(np.exp(rng.uniform(np.log(0.4), np.log(1.6)))))
    new_low = rng.uniform(0.0, 1.0 - new_span)
    return ((clean - low) * (new_span / span) + new_low).astype(np.float32)


class RecorruptedTask(_DrawnNoiseTask):
    """Self-supervised training from one noisy volume with a known (calibrated) noise model.

    ``gain``/``read_variance``: noise variance ``gain · s + read_variance`` at normalised signal
    ``s`` (``s`` read as ``1 - s`` when ``inverted``); ``pole``: the noise's lag-1 correlation
    along x (detector lag); ``y_correlation``: its lag-1 correlation along y (0 to 0.5).
    ``alpha`` trades input noise against target noise (R2R's α).
    """

    name = "recorrupted"
    symmetric = False

    def __init__(
        self,
        *,
        gain: float,
        read_variance: float,
        pole: float,
        y_correlation: float = 0.0,
        inverted: bool = False,
        alpha: float = 0.5,
    ) -> None:
        if not 0.0 <= y_correlation <= 0.5:
            raise ValueError(f"y_correlation {y_correlation}: a two-tap filter gives 0 to 0.5")
        self.gain = gain
        self.read_variance = read_variance
        self.pole = pole
        self.y_correlation = y_correlation
        self.inverted = inverted
        self.alpha = alpha

    @classmethod
    def from_fit(cls, fit: CalibrationFit, *, alpha: float = 0.5) -> RecorruptedTask:
        """The noise model of a ``calibrate_single`` fit (normalised units)."""
        profile = fit.profile
        return cls(
            gain=profile.gain,
            read_variance=profile.read_noise**2,
            pole=profile.blur_pole(1.0),
            y_correlation=fit.y_correlation,
            inverted=profile.inverted,
            alpha=alpha,
        )

    def source_extent(self, window: int, patch_size: tuple[int, int]) -> tuple[int, int, int]:
        return (window, *patch_size)

    def noise_like(self, noisy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A fresh draw of the calibrated noise for the (D, H, W) patch ``noisy``.

        White noise whose variance follows the local signal (3×3 mean of ``noisy``), through
        the same detector low-pass as the scan: the variance is the profile's *before* the
        low-pass (``vemrestore.simulate.profile``), so the draw matches the scan's noise in
        variance and x-correlation; then each line is mixed with the next, ``c0·n(y) +
        c1·n(y+1)`` with ``c0² + c1² = 1`` (variance kept) and ``c0·c1`` the y-correlation.
        """
        local = _box3(noisy)
        electron_signal = 1.0 - local if self.inverted else local
        variance = self.gain * np.clip(electron_signal, 0.0, None) + self.read_variance
        variance = np.concatenate([variance, variance[:, -1:]], axis=1)  # one line more for y
        lines = scan_filter(rng.standard_normal(variance.shape) * np.sqrt(variance), self.pole)
        rho = self.y_correlation
        c0 = (math.sqrt(1.0 + 2.0 * rho) + math.sqrt(1.0 - 2.0 * rho)) / 2.0
        c1 = (math.sqrt(1.0 + 2.0 * rho) - math.sqrt(1.0 - 2.0 * rho)) / 2.0
        return c0 * lines[:, :-1] + c1 * lines[:, 1:]

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        rng = _require(rng, self.name)
        noisy = patch["noisy"].astype(np.float64)
        z = self.noise_like(noisy, rng)
        inputs = noisy + self.alpha * z
        target = noisy - z / self.alpha
        return inputs.astype(np.float32), target.astype(np.float32)


def _box3(volume: np.ndarray) -> np.ndarray:
    """3×3 in-plane mean of a (D, H, W) array, edges reflected."""
    padded = np.pad(volume, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    height, width = volume.shape[1:]
    total = sum(padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3))
    return total / 9.0
