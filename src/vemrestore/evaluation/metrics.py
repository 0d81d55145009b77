"""Image-quality metrics on normalised intensities (data range 1), in torch.

Inputs are (B, D, H, W) float tensors; every (b, d) slice is one 2D image. The same SSIM
serves as a loss term and as a validation metric, so the two cannot disagree.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_SSIM_SIZE = 7
_C1 = 0.01**2
_C2 = 0.03**2


def psnr_from_mse(mse: torch.Tensor | float, data_range: float = 1.0) -> torch.Tensor:
    """PSNR (dB) of a mean squared error with ``data_range`` as the peak."""
    mse = torch.as_tensor(mse, dtype=torch.float64)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-300))


def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR (dB) of one MSE over every element given: the project's one definition.

    A volume, a slice or a batch is scored as one block of voxels, never as a mean of
    per-image PSNRs (which would weigh a flat, easy slice as much as a hard one).
    """
    mse = (prediction.double() - target.double()).pow(2).mean()
    return psnr_from_mse(mse, data_range)


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM, differentiable; a scalar.

    Uniform 7×7 window, valid region only (scikit-image's default): a box filter is an
    average pool, several times cheaper on CPU than a Gaussian convolution.
    """
    x = prediction.float().flatten(0, 1)[:, None] / data_range
    y = target.float().flatten(0, 1)[:, None] / data_range
    if min(x.shape[-2:]) < _SSIM_SIZE:
        raise ValueError(f"SSIM needs images of at least {_SSIM_SIZE} px, got {x.shape[-2:]}")
    moments = F.avg_pool2d(torch.cat([x, y, x * x, y * y, x * y], dim=1), _SSIM_SIZE, stride=1)
    mu_x, mu_y, xx, yy, xy = moments.unbind(1)
    # sample (co)variances, as scikit-image
    correction = _SSIM_SIZE**2 / (_SSIM_SIZE**2 - 1)
    var_x = (xx - mu_x**2) * correction
    var_y = (yy - mu_y**2) * correction
    cov = (xy - mu_x * mu_y) * correction
    value = ((2 * mu_x * mu_y + _C1) * (2 * cov + _C2)) / (
        (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    )
    return value.mean()


def volume_scores(
    prediction: np.ndarray, target: np.ndarray, data_range: float
) -> tuple[float, float]:
    """(PSNR over the whole volume, mean slice SSIM) of two (Z, Y, X) arrays, with
    ``data_range`` as the peak."""
    p = torch.from_numpy(np.asarray(prediction, dtype=np.float32))[None]
    t = torch.from_numpy(np.asarray(target, dtype=np.float32))[None]
    return float(psnr(p, t, data_range)), float(ssim(p, t, data_range))
