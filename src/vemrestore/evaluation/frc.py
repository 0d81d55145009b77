"""Fourier ring correlation (FRC), the standard resolution measure of EM images.

``FRC(r) = Re Σ F1 F2* / sqrt(Σ |F1|² Σ |F2|²)``, sums over the Fourier pixels of ring ``r``.

Frequency axis: spatial frequency in **cycles per original pixel**, from 0 to 0.5
(Nyquist). Rings are 1 / N wide (N = the shorter image side), so ring ``r`` is centred on
``(r + 0.5) / N``. Both images are multiplied by the same Hann window first, so the image
border does not add a spurious cross at every frequency.

The resolution is the inverse of the first frequency (past the lowest rings) where the
curve drops below the threshold (1/7 ≈ 0.143), interpolated between rings, in pixels, or
in nm when the pixel size is known. A curve that never drops reports the Nyquist limit.

Without a reference, ``checkerboard_frc`` splits one image into two halves with
independent noise: the diagonal lattices ``(even y, even x)`` vs ``(odd y, odd x)`` (and
``(even, odd)`` vs ``(odd, even)``, averaged). Each half is an image with **2× the original
pixel size**, shifted by half its pixel diagonally from the other; the shift is undone by a
phase ramp in Fourier space, and frequencies are reported in cycles per *original* pixel
(so the curve stops at 0.25, the halves' Nyquist) and resolutions in original pixels.
Noise correlated along x only (detector blur) stays independent between the halves, which
sit in different lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD = 1.0 / 7.0
_SKIP_RINGS = 1
"""Rings ignored at the low end when looking for the threshold crossing (DC can be odd)."""


@dataclass(frozen=True)
class FRCCurve:
    """An FRC curve: ``frequencies`` (cycles per original pixel) and ``values``, (R,) float64.

    ``pixel_size`` is the original pixel size in nm, or None when unknown.
    """

    frequencies: np.ndarray
    values: np.ndarray
    pixel_size: float | None = None

    def crossing(self, threshold: float = THRESHOLD) -> float | None:
        """First frequency where the curve drops below ``threshold``; None if it never does."""
        values, frequencies = self.values, self.frequencies
        for r in range(_SKIP_RINGS, len(values)):
            if values[r] < threshold:
                if r == 0 or values[r - 1] < threshold:
                    return float(frequencies[r])
                fraction = (values[r - 1] - threshold) / (values[r - 1] - values[r])
                return float(frequencies[r - 1] + fraction * (frequencies[r] - frequencies[r - 1]))
        return None

    def resolution_px(self, threshold: float = THRESHOLD) -> float:
        """Resolution in original pixels; the last frequency's period if it never drops."""
        frequency = self.crossing(threshold)
        return 1.0 / (frequency if frequency is not None else float(self.frequencies[-1]))

    @property
    def saturated(self) -> bool:
        """True when the curve never drops below 1/7: its resolution is only the Nyquist
        limit, and cannot tell two such images apart."""
        return self.crossing() is None

    @property
    def mean(self) -> float:
        """Mean FRC over all rings: still separates curves that both saturate."""
        return float(np.mean(self.values))

    def resolution_nm(self, threshold: float = THRESHOLD) -> float | None:
        """Resolution in nm, or None without a pixel size."""
        if self.pixel_size is None:
            return None
        return self.resolution_px(threshold) * self.pixel_size


def frc(image1: np.ndarray, image2: np.ndarray, pixel_size: float | None = None) -> FRCCurve:
    """FRC between two (Y, X) images of the same shape (any numeric dtype)."""
    first, second = _spectra(image1, image2)
    return _ring_correlation(first, second, np.ones(first.shape), 1.0, pixel_size)


def checkerboard_frc(image: np.ndarray, pixel_size: float | None = None) -> FRCCurve:
    """FRC between the diagonal checkerboard halves of one (Y, X) image (see module doc)."""
    image = np.asarray(image, dtype=np.float64)
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    if min(height, width) < 16:
        raise ValueError(f"checkerboard FRC needs an image of at least 16×16, got {image.shape}")
    image = image[:height, :width]
    curves = [
        diagonal_frc(image[0::2, 0::2], image[1::2, 1::2], pixel_size),
        diagonal_frc(image[0::2, 1::2], image[1::2, 0::2], pixel_size, x_step=-1),
    ]
    return FRCCurve(curves[0].frequencies, (curves[0].values + curves[1].values) / 2.0, pixel_size)


def diagonal_frc(
    first: np.ndarray, second: np.ndarray, pixel_size: float | None = None, x_step: int = 1
) -> FRCCurve:
    """FRC between two (Y, X) half-resolution images on diagonal sub-lattices: ``second``
    samples the grid of ``first`` one original pixel down and ``x_step`` (±1) across.

    Used on raw lattices (``checkerboard_frc``) and on lattices restored one by one: each
    restoration then sees only its own lattice's noise, so the two stay independent.
    """
    spectrum1, spectrum2 = _spectra(first, second)
    height, width = spectrum1.shape
    frequencies_y = np.fft.fftfreq(height)[:, None]
    frequencies_x = np.fft.fftfreq(width)[None, :]
    # second(p) = first(p + d), d = half a lattice pixel: undo with exp(-2πi f·d)
    phase = np.exp(-2j * np.pi * (frequencies_y * 0.5 + frequencies_x * 0.5 * x_step))
    return _ring_correlation(spectrum1, spectrum2, phase, 2.0, pixel_size)


def mean_curve(curves: list[FRCCurve]) -> FRCCurve:
    """Average of FRC curves on the same frequency axis (e.g. over the slices of a volume)."""
    values = np.mean([c.values for c in curves], axis=0)
    return FRCCurve(curves[0].frequencies, values, curves[0].pixel_size)


def _spectra(image1: np.ndarray, image2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(image1, dtype=np.float64)
    b = np.asarray(image2, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"FRC needs two (Y, X) images of one shape, got {a.shape}, {b.shape}")
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    return np.fft.fft2((a - a.mean()) * window), np.fft.fft2((b - b.mean()) * window)


def _ring_correlation(
    spectrum1: np.ndarray,
    spectrum2: np.ndarray,
    phase: np.ndarray,
    pixel_ratio: float,
    pixel_size: float | None,
) -> FRCCurve:
    """Ring sums on an image whose pixel is ``pixel_ratio`` original pixels."""
    height, width = spectrum1.shape
    side = min(height, width)
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    rings = np.floor(radius * side).astype(int).ravel()
    count = side // 2
    keep = rings < count
    cross = np.real(spectrum1 * np.conj(spectrum2 * phase)).ravel()[keep]
    power1 = (np.abs(spectrum1) ** 2).ravel()[keep]
    power2 = (np.abs(spectrum2) ** 2).ravel()[keep]
    rings = rings[keep]
    numerator = np.bincount(rings, cross, count)
    denominator = np.sqrt(np.bincount(rings, power1, count) * np.bincount(rings, power2, count))
    values = np.divide(numerator, denominator, out=np.zeros(count), where=denominator > 0)
    frequencies = (np.arange(count) + 0.5) / side / pixel_ratio
    return FRCCurve(frequencies, values, pixel_size)
