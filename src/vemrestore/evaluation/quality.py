"""Evaluate a restored volume: against a reference when there is one, from itself when not.

With a reference: PSNR/SSIM (whole volume and per slice) and the FRC of each slice against
the reference slice, with its resolution at the 1/7 threshold. Without one: the checkerboard
half-image FRC (``vemrestore.evaluation.frc``) of the restored volume and, if given, of the
input, plus the noise σ left in each (``slice_noise``); restoration that removes noise but
not structure keeps the half-image FRC high while the noise σ falls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vemrestore.evaluation.frc import FRCCurve, checkerboard_frc, frc, mean_curve
from vemrestore.evaluation.noise import slice_noise
from vemrestore.evaluation.scores import Scores, volume_quality

MAX_FRC_SLICES = 64
"""FRC is computed on at most this many evenly spaced slices (it is per-slice and costly)."""


@dataclass(frozen=True)
class Evaluation:
    """Everything ``evaluate`` measured; fields are None when their input was not given.

    ``frc_slices``: z of the slices the FRC curves come from; ``slice_resolution``: their
    resolution (nm with a pixel size, else px), (S,) float64. ``noise``: median noise σ per
    volume in its intensity units, keyed "restored"/"input".
    """

    shape: tuple[int, ...]
    pixel_size: float | None
    scores: Scores | None
    input_scores: Scores | None
    frc_reference: FRCCurve | None
    frc_input_reference: FRCCurve | None
    frc_slices: np.ndarray
    slice_resolution: np.ndarray | None
    half_frc_restored: FRCCurve
    half_frc_input: FRCCurve | None
    noise: dict[str, float]

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
) -> Evaluation:
    """Measure a restored (Z, Y, X) or (Y, X) volume; ``noisy`` is the restoration's input.

    ``pixel_size`` is the in-plane pixel size in nm (for resolutions in nm). All arrays
    must have one shape; any numeric dtype.
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
    scores = input_scores = frc_reference = frc_input = slice_resolution = None
    if reference is not None:
        scores = volume_quality(restored, reference, data_range)
        curves = [frc(restored[z], reference[z], pixel_size) for z in slices]
        frc_reference = mean_curve(curves)
        slice_resolution = np.array([resolution(c) for c in curves])
        if noisy is not None:
            input_scores = volume_quality(noisy, reference, scores.data_range)
            frc_input = mean_curve([frc(noisy[z], reference[z], pixel_size) for z in slices])
    half_restored = mean_curve([checkerboard_frc(restored[z], pixel_size) for z in slices])
    half_input = None
    noise = {"restored": _noise(restored, slices)}
    if noisy is not None:
        half_input = mean_curve([checkerboard_frc(noisy[z], pixel_size) for z in slices])
        noise["input"] = _noise(noisy, slices)
    return Evaluation(
        shape=restored.shape,
        pixel_size=pixel_size,
        scores=scores,
        input_scores=input_scores,
        frc_reference=frc_reference,
        frc_input_reference=frc_input,
        frc_slices=slices,
        slice_resolution=slice_resolution,
        half_frc_restored=half_restored,
        half_frc_input=half_input,
        noise=noise,
    )


def _volume(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise ValueError(f"expected a (Z, Y, X) or (Y, X) array, got shape {array.shape}")
    return array


def _noise(volume: np.ndarray, slices: np.ndarray) -> float:
    return float(np.median([slice_noise(volume[z].astype(np.float64)) for z in slices]))
