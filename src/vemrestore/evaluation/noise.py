"""Noise inspection of a single noisy volume: is the noise uniform enough to learn from itself?

Self-supervised training assumes every slice carries the same kind of noise around the same
kind of signal. This module measures, per slice (all in the input's intensity units):

- ``noise``: σ of the noise, from the 2×2 high-pass residual ``(a - b - c + d) / 2`` of each
  2×2 pixel block, whose σ equals the noise's for pixel-independent noise (smooth signal
  cancels). The largest 10% of |residual| (edges) are dropped and the mean of the rest is
  scaled to σ for Gaussian noise: robust like a MAD, but continuous on integer data, where a
  median of |residual| only takes half-integer values. Noise correlated between neighbours
  reads low by about sqrt((1 - ρx)(1 - ρy)); compare slices, not volumes.
- ``mean`` (brightness) and ``contrast``: the signal's standard deviation,
  sqrt(var(slice) - noise²), so that a noisier slice does not look more contrasted.
- ``correlation_x``/``correlation_y``: lag-1 correlation of the noise along x (within a scan
  line) and along y. Along x it is measured on the residual ``s[y] - (s[y-1] + s[y+1]) / 2``
  (which removes signal varying along y and keeps the noise's x-structure unchanged for
  noise whose correlation is separable in x and y); along y symmetrically. Strong signal
  curvature adds to both equally, so compare x against y on clean-ish data.

A slice is an outlier in a quantity when it is both far from the volume's median in robust
standard deviations (``z_threshold``) and beyond a relative ``tolerance`` (noise and contrast
relative to their medians, brightness relative to the median contrast): the first keeps
estimation scatter out, the second keeps harmless small changes of big slices out. Drift is
the change over the whole volume along a straight-line fit, in the same relative units.

Only the noise decides whether a volume is uniform, and it is judged against what each
slice's brightness predicts: shot noise grows with the signal, so a variance that follows
brightness along one straight line (σ² = a·mean + b, fitted robustly across slices) is the
same detector, not a change. Brightness and contrast drift and outliers are reported as
remarks: self-supervised training copes with them (``--normalize-drift`` flattens them).
Brightness and contrast also vary with image content: on small fields of view (below about
128×128 px of smooth structure) that natural variation alone can exceed the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

QUANTITIES = ("noise", "mean", "contrast")
_MAD_TO_SIGMA = 1.4826
_KEPT = 0.9
_Z_KEPT = 1.6448536
"""|X| of a standard normal stays below this with probability ``_KEPT``."""
_TRIMMED_MEAN_TO_SIGMA = _KEPT / (2 * (1 - math.exp(-(_Z_KEPT**2) / 2)) / math.sqrt(2 * math.pi))
"""σ / E[|X| given |X| below its 90% quantile], for Gaussian X."""
_MAX_SIDE = 1024
"""Slices larger than this (px) are measured on a central crop: enough pixels, bounded cost."""


@dataclass(frozen=True)
class Outlier:
    """Slice ``z`` deviates in ``quantity`` by ``relative`` (fraction of the reference scale)."""

    z: int
    quantity: str
    relative: float


@dataclass(frozen=True)
class NoiseReport:
    """Per-slice noise statistics of a (Z, Y, X) volume, float64 arrays of shape (Z,).

    ``z``: each row's slice number in the file (a sample of a large volume skips slices).
    """

    noise: np.ndarray
    mean: np.ndarray
    contrast: np.ndarray
    correlation_x: np.ndarray
    correlation_y: np.ndarray
    outliers: tuple[Outlier, ...]
    drift: dict[str, float]
    tolerance: float
    notes: tuple[str, ...] = field(default=())
    z: tuple[int, ...] = field(default=())

    @property
    def uniform(self) -> bool:
        """The noise neither has outlier slices nor drifts beyond what brightness explains."""
        return not any(o.quantity == "noise" for o in self.outliers) and (
            "noise" not in self.drifting
        )

    @property
    def drifting(self) -> tuple[str, ...]:
        """Quantities whose drift over the volume exceeds the tolerance."""
        return tuple(q for q, d in self.drift.items() if abs(d) > self.tolerance)

    @property
    def slice_numbers(self) -> tuple[int, ...]:
        return self.z or tuple(range(len(self.noise)))

    @property
    def outlier_slices(self) -> list[int]:
        return sorted({o.z for o in self.outliers})

    def problems(self) -> list[str]:
        """What makes the noise non-uniform, one finding per line (empty when uniform)."""
        return self._findings(("noise",))

    def remarks(self) -> list[str]:
        """Brightness and contrast changes: reported, but they leave the noise uniform."""
        return [
            f"{line} (the noise model holds; --normalize-drift flattens it for training)"
            for line in self._findings(("mean", "contrast"))
        ]

    def _findings(self, quantities: tuple[str, ...]) -> list[str]:
        lines = []
        for quantity in quantities:
            slices = sorted({o.z for o in self.outliers if o.quantity == quantity})
            if slices:
                lines.append(f"{quantity}: outlier slices {_ranges(slices)}")
        for quantity in self.drifting:
            if quantity in quantities:
                lines.append(f"{quantity}: drifts by {self.drift[quantity]:+.0%} over the volume")
        return lines

    def summary(self) -> list[str]:
        """Volume-level figures, problems, remarks, notes and the verdict, one per line."""
        return [
            f"noise σ median {np.median(self.noise):.4g}, noise correlation "
            f"x {np.median(self.correlation_x):+.2f}, y {np.median(self.correlation_y):+.2f}",
            *self.problems(),
            *self.remarks(),
            *self.notes,
            "noise is uniform" if self.uniform else "noise is NOT uniform",
        ]

    def table(self) -> str:
        """One row per slice: z, mean, contrast, noise σ, correlations, outlier flags."""
        flags: dict[int, list[str]] = {}
        for outlier in self.outliers:
            flags.setdefault(outlier.z, []).append(outlier.quantity)
        rows = [
            f"{'z':>5} {'mean':>10} {'contrast':>10} {'noise':>10} {'corr_x':>7} "
            f"{'corr_y':>7}  outlier"
        ]
        for row, z in enumerate(self.slice_numbers):
            rows.append(
                f"{z:>5} {self.mean[row]:>10.4g} {self.contrast[row]:>10.4g} "
                f"{self.noise[row]:>10.4g} {self.correlation_x[row]:>+7.2f} "
                f"{self.correlation_y[row]:>+7.2f}  {','.join(flags.get(z, []))}"
            )
        return "\n".join(rows)


def slice_noise(image: np.ndarray) -> float:
    """σ of pixel-independent noise in a (Y, X) image, from the trimmed mean |2×2 residual|."""
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    s = image[:height, :width]
    residual = np.abs(s[0::2, 0::2] - s[0::2, 1::2] - s[1::2, 0::2] + s[1::2, 1::2]).ravel() / 2
    kept = max(1, int(_KEPT * residual.size))
    return float(np.partition(residual, kept - 1)[:kept].mean() * _TRIMMED_MEAN_TO_SIGMA)


def noise_correlation(image: np.ndarray) -> tuple[float, float]:
    """(along x, along y) lag-1 noise correlation of a (Y, X) image (see the module docstring)."""
    along_y_removed = image[1:-1, :] - (image[:-2, :] + image[2:, :]) / 2.0
    along_x_removed = image[:, 1:-1] - (image[:, :-2] + image[:, 2:]) / 2.0
    return (
        _correlation(along_y_removed[:, :-1], along_y_removed[:, 1:]),
        _correlation(along_x_removed[:-1, :], along_x_removed[1:, :]),
    )


def inspect_noise(
    volume: np.ndarray,
    tolerance: float = 0.25,
    z_threshold: float = 4.0,
    *,
    z: tuple[int, ...] | None = None,
) -> NoiseReport:
    """Per-slice noise, brightness, contrast and noise correlation of a (Z, Y, X) or (Y, X)
    array (any numeric dtype), with outlier slices and drift (see the module docstring).

    ``z``: the slices' numbers when ``volume`` is a sample of a larger one (default 0, 1, ...).
    """
    if not 0 < tolerance < math.inf:  # NaN too: it would never flag anything
        raise ValueError(f"tolerance {tolerance}: must be a finite number > 0")
    volume = np.asarray(volume)
    if volume.ndim == 2:
        volume = volume[None]
    if volume.ndim != 3 or min(volume.shape[1:]) < 4:
        raise ValueError(f"need a (Z, Y, X) volume with slices of at least 4×4, got {volume.shape}")
    numbers = tuple(range(volume.shape[0])) if z is None else tuple(int(n) for n in z)
    if len(numbers) != volume.shape[0]:
        raise ValueError(f"{len(numbers)} slice numbers for {volume.shape[0]} slices")
    stats = np.array([_slice_stats(_central_crop(s).astype(np.float64)) for s in volume])
    noise, mean, contrast, correlation_x, correlation_y = stats.T
    scales = {
        "noise": float(np.median(noise)),
        "mean": float(np.median(contrast)),
        "contrast": float(np.median(contrast)),
    }
    # Noise relative to what the slice's brightness predicts (1 = as expected), scale 1.
    values = {"noise": noise / _expected_noise(noise, mean), "mean": mean, "contrast": contrast}
    scales["noise"] = 1.0
    outliers = []
    drift = {}
    for quantity in QUANTITIES:
        scale = scales[quantity] if scales[quantity] > 0 else 1.0
        outliers += _outliers(quantity, values[quantity], numbers, scale, tolerance, z_threshold)
        drift[quantity] = _drift(values[quantity], numbers, scale)
    notes = []
    if volume.shape[0] < 3:
        notes.append("fewer than 3 slices: drift not measured")
    if np.median(correlation_x) > 0.2 or np.median(correlation_y) > 0.2:
        notes.append(
            "noise is correlated between neighbouring pixels: the checkerboard's diagonal "
            "pairs keep x- or y-correlated noise out of the training target"
        )
    return NoiseReport(
        noise=noise,
        mean=mean,
        contrast=contrast,
        correlation_x=correlation_x,
        correlation_y=correlation_y,
        outliers=tuple(sorted(outliers, key=lambda o: (o.z, o.quantity))),
        drift=drift,
        tolerance=tolerance,
        notes=tuple(notes),
        z=numbers,
    )


def plot_noise_report(report: NoiseReport, path: str | Path, title: str = "") -> Path:
    """Write a PNG of the per-slice statistics (outliers marked red) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = np.array(report.slice_numbers)
    row_of = {number: row for row, number in enumerate(report.slice_numbers)}
    figure, axes = plt.subplots(4, 1, figsize=(7, 9), sharex=True)
    panels = [
        ("noise σ", {"noise": report.noise}),
        ("mean", {"mean": report.mean}),
        ("contrast (signal σ)", {"contrast": report.contrast}),
        ("noise correlation", {"x": report.correlation_x, "y": report.correlation_y}),
    ]
    for axis, (label, series) in zip(axes, panels, strict=True):
        for name, values in series.items():
            axis.plot(z, values, marker=".", label=name)
            flagged = [o.z for o in report.outliers if o.quantity == name]
            if flagged:
                rows = [row_of[number] for number in flagged]
                axis.plot(flagged, values[rows], "o", color="red", label=f"{name} outlier")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        if len(series) > 1 or any(o.quantity == label for o in report.outliers):
            axis.legend(fontsize="small")
    axes[-1].set_xlabel("slice z")
    axes[-1].axhline(0.0, color="grey", linewidth=0.5)
    status = "uniform" if report.uniform else "NOT uniform"
    figure.suptitle(f"{title} noise {status}".strip())
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
    return path


def _slice_stats(image: np.ndarray) -> tuple[float, float, float, float, float]:
    sigma = slice_noise(image)
    contrast = float(np.sqrt(max(float(image.var()) - sigma**2, 0.0)))
    return (sigma, float(image.mean()), contrast, *noise_correlation(image))


def _expected_noise(noise: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Each slice's noise σ as its brightness predicts: σ² = a·mean + b across slices.

    Theil-Sen (median of the pairwise slopes) keeps a minority of noisy outlier slices from
    bending the line; a line that predicts a variance ≤ 0 anywhere is not a noise model, and
    a constant (the median) is used instead.
    """
    variance = noise**2
    constant = np.full_like(noise, float(np.median(noise)))
    if len(noise) < 3 or float(np.median(noise)) <= 0:
        return np.where(constant > 0, constant, 1.0)
    first, second = np.triu_indices(len(noise), k=1)
    run = mean[second] - mean[first]
    usable = run != 0
    if not usable.any():
        return constant
    slope = float(np.median((variance[second] - variance[first])[usable] / run[usable]))
    offset = float(np.median(variance - slope * mean))
    predicted = slope * mean + offset
    if (predicted <= 0).any():
        return constant
    return np.sqrt(predicted)


def _central_crop(image: np.ndarray) -> np.ndarray:
    y0 = max(0, (image.shape[0] - _MAX_SIDE) // 2)
    x0 = max(0, (image.shape[1] - _MAX_SIDE) // 2)
    return image[y0 : y0 + _MAX_SIDE, x0 : x0 + _MAX_SIDE]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _outliers(
    quantity: str,
    values: np.ndarray,
    numbers: tuple[int, ...],
    scale: float,
    tolerance: float,
    z_threshold: float,
) -> list[Outlier]:
    center = np.median(values)
    spread = _MAD_TO_SIGMA * np.median(np.abs(values - center))
    limit = max(z_threshold * spread, tolerance * scale)
    return [
        Outlier(int(z), quantity, float((v - center) / scale))
        for z, v in zip(numbers, values, strict=True)
        if abs(v - center) > limit
    ]


def _drift(values: np.ndarray, numbers: tuple[int, ...], scale: float) -> float:
    """Change over the volume of a straight-line fit, relative to ``scale`` (0 below 3 slices)."""
    if len(values) < 3:
        return 0.0
    z = np.asarray(numbers, dtype=np.float64)
    slope = np.polyfit(z, values, 1)[0]
    return float(slope * (z[-1] - z[0]) / scale)


def _ranges(indices: list[int]) -> str:
    """[1, 2, 3, 7] → '1-3, 7'."""
    parts = []
    start = previous = indices[0]
    for index in [*indices[1:], None]:
        if index is not None and index == previous + 1:
            previous = index
            continue
        parts.append(f"{start}-{previous}" if previous > start else f"{start}")
        if index is not None:
            start = previous = index
    return ", ".join(parts)
