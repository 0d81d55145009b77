"""Loss strings and metrics: SSIM agrees with scikit-image, losses are weighted sums."""

import numpy as np
import pytest
import torch

from vemrestore.evaluation.metrics import psnr, ssim
from vemrestore.tasks.losses import WeightedLoss


def test_ssim_matches_scikit_image(rng: np.random.Generator) -> None:
    metrics = pytest.importorskip("skimage.metrics")
    x = rng.random((40, 48)).astype(np.float32)
    y = (x + 0.2 * rng.standard_normal((40, 48))).astype(np.float32)
    ours = float(ssim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None]))
    assert ours == pytest.approx(metrics.structural_similarity(x, y, data_range=1.0), abs=1e-5)


def test_weighted_loss_and_psnr() -> None:
    p, t = torch.zeros(1, 2, 16, 16), torch.full((1, 2, 16, 16), 0.1)
    assert float(WeightedLoss("2*L1+1*MSE")(p, t)) == pytest.approx(2 * 0.1 + 0.01)
    assert float(psnr(p, t)) == pytest.approx(20.0)
    assert float(WeightedLoss("1*SSIM")(t, t)) == pytest.approx(0.0, abs=1e-6)
