"""Training losses as weighted sums, built from strings like ``"1*L1+1*SSIM"``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vemrestore.config.grammar import parse_loss
from vemrestore.evaluation.metrics import ssim

_TERMS = {
    "L1": F.l1_loss,
    "MSE": F.mse_loss,
    "HUBER": lambda p, t: F.huber_loss(p, t, delta=0.1),
    "SSIM": lambda p, t: 1.0 - ssim(p, t),
}


class WeightedLoss(nn.Module):
    """Σ weight·term(prediction, target) over (B, D, H, W) float tensors; a scalar tensor."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.terms = parse_loss(text)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prediction, target = prediction.float(), target.float()
        return sum(weight * _TERMS[name](prediction, target) for weight, name in self.terms)
