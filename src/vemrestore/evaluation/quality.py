"""Evaluate a restored volume: against a reference when there is one, from itself when not.

With a reference: PSNR/SSIM (whole volume and per slice) and the FRC of each slice against
the reference slice, with its resolution at the 1/7 threshold and the mean FRC (which still
separates two curves that both stay above 1/7 up to Nyquist).

Beside the restoration, always, when the input is given: a classical baseline, the in-plane
Gaussian filter with σ chosen from the input's noise (``vemrestore.evaluation.baseline``).

Without a reference, the **independent-halves FRC**: the raw input is split into its two
diagonal sub-lattices, which carry independent noise; each is restored on its own (the same
model for both, ``restore_half``) and the two restorations are compared by FRC. Noise shared
between them cannot exist, so only signal raises the curve. A linear filter scales signal and
noise alike at every frequency, so a Gaussian blur scores exactly what the raw halves score:
it cannot game this measure. (The checkerboard FRC *of a restored volume* can be gamed: the
restoration mixes the halves' noise, and a blur scores better than a good restoration.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vemrestore.evaluation.baseline import GaussianBaseline, choose_gaussian
from vemrestore.evaluation.frc import FRCCurve, diagonal_frc, frc, mean_curve
from vemrestore.evaluation.noise import slice_noise
from vemrestore.evaluation.scores import Scores, volume_quality

MAX_FRC_SLICES = 64
"""FRC is computed on at most this many evenly spaced slices (it is per-slice and costly)."""

HalfRestorer = Callable[[np.ndarray], np.ndarray]
"""Restores a (Z, Y/2, X/2) sub-lattice of the input (its dtype) to an array of that shape."""


@dataclass(frozen=True)
class Evaluation:
    """Everything ``evaluate`` measured; fields are None when their input was not given.

    ``frc_slices``: z of the slices the FRC curves come from; ``slice_resolution``: their
    resolution (nm with a pixel size, else px), (S,) float64. ``noise``: median noise σ per
    volume in its intensity units, keyed "restored"/"input"/"baseline" (a blur lowers it as
    much as a restoration does: it is no quality score). ``baseline``: the Gaussian filter
    applied to the input, with ``baseline_scores``/``frc_baseline_reference`` against the
    reference. ``halves``: independent-halves FRC keyed "input" (raw), "baseline" and
    "restored" (see the module docstring).
    """

    shape: tuple[int, ...]
    pixel_size: float | None
    scores: Scores | None
    input_scores: Scores | None
    frc_reference: FRCCurve | None
    frc_input_reference: FRCCurve | None
    frc_slices: np.ndarray
    slice_resolution: np.ndarray | None
    noise: dict[str, float]
    baseline: GaussianBaseline | None = None
    baseline_scores: Scores | None = None
    frc_baseline_reference: FRCCurve | None = None
    halves: dict[str, FRCCurve] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return "nm" if self.pixel_size is not None else "px"


def resolution(curve: FRCCurve) -> float:
    """The 1/7-threshold resolution, in nm when the curve knows its pixel size, else px."""
    value = curve.resolution_nm()
    return value if value is not None else curve.resolution_px()


def evaluate(
    restored: np.ndarray,
    reference: np.ndarray | None = None,
    noisy: np.ndarray | None = None,
    pixel_size: float | None = None,
    data_range: float | None = None,
    restore_half: HalfRestorer | None = None,
) -> Evaluation:
    """Measure a restored (Z, Y, X) or (Y, X) volume; ``noisy`` is the restoration's input.

    ``pixel_size`` is the in-plane pixel size in nm (for resolutions in nm). All arrays
    must have one shape; any numeric dtype. ``restore_half`` (with ``noisy``) restores one
    sub-lattice of the input as the restored volume was restored: the independent-halves FRC.
    """
    if data_range is not None and not 0 < data_range < math.inf:
        raise ValueError(f"data range {data_range}: must be a finite number > 0")
    restored = _volume(restored)
    reference = None if reference is None else _volume(reference)
    noisy = None if noisy is None else _volume(noisy)
    for name, other in (("reference", reference), ("input", noisy)):
        if other is not None and other.shape != restored.shape:
            raise ValueError(f"{name} shape {other.shape} differs from {restored.shape}")
    slices = np.unique(np.linspace(0, restored.shape[0] - 1, MAX_FRC_SLICES).round().astype(int))
    baseline = None if noisy is None else choose_gaussian(noisy)
    volumes = {"restored": restored}
    if noisy is not None and baseline is not None:
        volumes = {"input": noisy, "baseline": baseline.apply(noisy), "restored": restored}
    found: dict[str, tuple[Scores, FRCCurve]] = {}
    slice_resolution = None
    if reference is not None:
        peak = data_range
        for name in ("restored", "input", "baseline"):  # restored first: it fixes the peak
            if name in volumes:
                scores = volume_quality(volumes[name], reference, peak)
                peak = scores.data_range
                curves = [frc(volumes[name][z], reference[z], pixel_size) for z in slices]
                found[name] = (scores, mean_curve(curves))
                if name == "restored":
                    slice_resolution = np.array([resolution(c) for c in curves])
    halves = {}
    if noisy is not None and baseline is not None:
        halves = _independent_halves(noisy, baseline, restore_half, slices, pixel_size)
    return Evaluation(
        shape=restored.shape,
        pixel_size=pixel_size,
        scores=found["restored"][0] if found else None,
        input_scores=found["input"][0] if "input" in found else None,
        frc_reference=found["restored"][1] if found else None,
        frc_input_reference=found["input"][1] if "input" in found else None,
        frc_slices=slices,
        slice_resolution=slice_resolution,
        noise={name: _noise(volume, slices) for name, volume in volumes.items()},
        baseline=baseline,
        baseline_scores=found["baseline"][0] if "baseline" in found else None,
        frc_baseline_reference=found["baseline"][1] if "baseline" in found else None,
        halves=halves,
    )


def _independent_halves(
    noisy: np.ndarray,
    baseline: GaussianBaseline,
    restore_half: HalfRestorer | None,
    slices: np.ndarray,
    pixel_size: float | None,
) -> dict[str, FRCCurve]:
    """FRC between the input's (0,0) and (1,1) sub-lattices, raw, each Gaussian-filtered (σ
    halved: the lattice pixel is 2 px) and, with ``restore_half``, each restored alone."""
    height, width = (noisy.shape[1] // 2) * 2, (noisy.shape[2] // 2) * 2
    first = noisy[:, 0:height:2, 0:width:2]
    second = noisy[:, 1:height:2, 1:width:2]
    half_blur = GaussianBaseline(baseline.sigma / 2, baseline.noise)
    pairs = {
        "input": (first[slices], second[slices]),
        "baseline": (half_blur.apply(first[slices]), half_blur.apply(second[slices])),
    }
    if restore_half is not None:  # whole half-volumes: a network may look along z
        pairs["restored"] = (restore_half(first)[slices], restore_half(second)[slices])
    return {
        name: mean_curve([diagonal_frc(x, y, pixel_size) for x, y in zip(a, b, strict=True)])
        for name, (a, b) in pairs.items()
    }


def _volume(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise ValueError(f"expected a (Z, Y, X) or (Y, X) array, got shape {array.shape}")
    return array


def _noise(volume: np.ndarray, slices: np.ndarray) -> float:
    return float(np.median([slice_noise(volume[z].astype(np.float64)) for z in slices]))
