"""Slice-wise PSNR and SSIM of numpy volumes, on the same torch maths as training's metrics.

SSIM is scikit-image's default (uniform 7×7 window, sample covariance, valid region),
so numbers here can be compared with papers that use ``skimage.metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vemrestore.evaluation.metrics import psnr, ssim


@dataclass(frozen=True)
class Scores:
    """Quality of a (Z, Y, X) prediction against a reference of the same shape.

    ``psnr`` (dB) is over the whole volume (one MSE); ``ssim`` the mean over slices;
    ``slice_psnr``/``slice_ssim`` are (Z,) float64 arrays.
    """

    psnr: float
    ssim: float
    slice_psnr: np.ndarray
    slice_ssim: np.ndarray
    data_range: float


def default_data_range(reference: np.ndarray) -> float:
    """The peak used for PSNR/SSIM: the dtype's maximum for integers (as scikit-image),
    the reference's max - min for floats."""
    reference = np.asarray(reference)
    if reference.dtype.kind in "ui":
        return float(np.iinfo(reference.dtype).max)
    span = float(reference.max() - reference.min())
    return span if span > 0 else 1.0


def volume_quality(
    prediction: np.ndarray, reference: np.ndarray, data_range: float | None = None
) -> Scores:
    """PSNR/SSIM of (Z, Y, X) or (Y, X) arrays, whole volume and per slice."""
    prediction, reference = np.asarray(prediction), np.asarray(reference)
    if prediction.shape != reference.shape:
        raise ValueError(f"shapes differ: {prediction.shape} vs {reference.shape}")
    if prediction.ndim == 2:
        prediction, reference = prediction[None], reference[None]
    peak = default_data_range(reference) if data_range is None else float(data_range)
    p = prediction.astype(np.float64)
    t = reference.astype(np.float64)
    whole = _psnr(p, t, peak)
    slice_psnr = np.array([_psnr(a, b, peak) for a, b in zip(p, t, strict=True)])
    slice_ssim = np.array([_ssim(a, b, peak) for a, b in zip(p, t, strict=True)])
    return Scores(float(whole), float(slice_ssim.mean()), slice_psnr, slice_ssim, peak)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image))[None, None]


def _psnr(prediction: np.ndarray, target: np.ndarray, peak: float) -> float:
    with torch.no_grad():
        return float(psnr(torch.from_numpy(prediction), torch.from_numpy(target), peak))


def _ssim(prediction: np.ndarray, target: np.ndarray, peak: float) -> float:
    # float64 in: the sums of squares stay exact enough to agree with scikit-image
    with torch.no_grad():
        return float(ssim(_tensor(prediction), _tensor(target), peak))
