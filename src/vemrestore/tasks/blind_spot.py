"""Blind-spot self-supervised restoration with a mask sized to the measured noise correlation.

A network that must predict a pixel without seeing it, nor any pixel whose noise is correlated
with it, can only predict its signal: the noisy pixel is then an unbiased target (Noise2Void,
Krull et al. 2019; masks shaped to the noise correlation: structured N2V, Broaddus et al.
2020). Fast SEM scans correlate the noise along the scan line (detector lag) and, once
registered, across lines too; the checkerboard's diagonal pairs share that noise, a box
that covers the correlated neighbours does not.

Each training step hides boxes of (2·ry + 1) × (2·rx + 1) pixels on a regular grid (random
offset per batch) in every slice of a whole patch, fills each box with the pixels one box
further away along a random axis and direction (their noise is independent of the centre's),
and scores the restoration only at the box centres. Inference runs the plain network on the
unmasked volume (what the blind-spot training taught it transfers: the network learned the
signal from context; at full resolution it also sees the centre, as N2V does).

Validation is the checkerboard's (restore one sub-lattice, compare with the mean of the
others), a noisy-target proxy shared by every self-supervised method, so checkpoints of the
methods rank alike.
"""

from __future__ import annotations

import torch
from torch import nn

from vemrestore.simulate.calibration import CalibrationFit
from vemrestore.tasks.base import Loss
from vemrestore.tasks.checkerboard import WholePatchTask

CORRELATION_FLOOR = 0.15
"""Neighbours whose noise correlation with the centre is below this are left visible."""
MAX_RADIUS = 3
_GAP = 3
"""Visible pixels between neighbouring boxes of the grid, along each axis."""


def radius_for(correlation: float) -> int:
    """How many neighbours on each side share the noise, for a lag-1 correlation ``ρ`` that
    decays as ``ρ**k`` (a one-pole scan filter): those with ``ρ**k ≥ CORRELATION_FLOOR``."""
    radius = 0
    while radius < MAX_RADIUS and correlation ** (radius + 1) >= CORRELATION_FLOOR:
        radius += 1
    return radius


class BlindSpotTask(WholePatchTask):
    """Learn restoration from one noisy volume by predicting hidden boxes from their context."""

    symmetric = False

    def __init__(self, *, radius_y: int = 0, radius_x: int = 0) -> None:
        self.radius = (radius_y, radius_x)
        self.stride = (2 * radius_y + 1 + _GAP, 2 * radius_x + 1 + _GAP)

    @classmethod
    def from_fit(cls, fit: CalibrationFit) -> BlindSpotTask:
        """The box that covers the correlation ``calibrate`` measured on the volume."""
        return cls(radius_y=radius_for(fit.y_correlation), radius_x=radius_for(fit.x_correlation))

    def describe(self) -> str:
        ry, rx = self.radius
        return f"blind-spot boxes of {2 * ry + 1}×{2 * rx + 1} px (y×x)"

    def masked(
        self, patches: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """``patches`` (B, D, H, W) with the boxes filled, and the grid offset (y, x) of the
        box centres."""
        (ry, rx), (sy, sx) = self.radius, self.stride
        offset = tuple(int(torch.randint(s, (), generator=generator)) for s in (sy, sx))
        height, width = patches.shape[-2:]
        hidden_y = _near_grid(height, offset[0], sy, ry, patches.device)
        hidden_x = _near_grid(width, offset[1], sx, rx, patches.device)
        hidden = hidden_y[:, None] & hidden_x[None, :]
        fills = []
        for sample in patches:
            axis = int(torch.randint(2, (), generator=generator))
            step = 2 * self.radius[axis] + 1
            sign = 1 if int(torch.randint(2, (), generator=generator)) else -1
            fills.append(torch.roll(sample, sign * step, dims=-2 + axis))
        return torch.where(hidden, torch.stack(fills), patches), offset

    def training_loss(self, model: nn.Module, patches: torch.Tensor, loss: Loss) -> torch.Tensor:
        """The loss at the box centres of one batch of whole (B, D, H, W) patches."""
        inputs, (oy, ox) = self.masked(patches)
        sy, sx = self.stride
        restored = model(inputs)
        return loss(restored[..., oy::sy, ox::sx], patches[..., oy::sy, ox::sx])


def _near_grid(
    length: int, offset: int, stride: int, radius: int, device: torch.device
) -> torch.Tensor:
    """Which of ``length`` positions lie within ``radius`` of a grid point ``offset + k·stride``."""
    distance = (torch.arange(length, device=device) - offset) % stride
    return (distance <= radius) | (distance >= stride - radius)
