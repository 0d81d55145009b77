"""Blind-spot task: boxes sized to the noise correlation, filled from outside it, scored at
their centres only."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from vemrestore.config.training import OptimizerSection
from vemrestore.simulate.calibration import CalibrationFit
from vemrestore.simulate.profile import NoiseProfile
from vemrestore.tasks.blind_spot import BlindSpotTask, radius_for
from vemrestore.training.module import RestorationModule


@pytest.mark.parametrize(
    ("correlation", "radius"), [(0.0, 0), (0.1, 0), (0.2, 1), (0.5, 2), (0.7, 3), (0.95, 3)]
)
def test_the_box_covers_neighbours_whose_noise_correlation_is_above_the_floor(
    correlation: float, radius: int
) -> None:
    assert radius_for(correlation) == radius


def test_a_calibrated_lag_and_registration_size_the_box() -> None:
    none = np.zeros(1)
    fit = CalibrationFit(
        profile=NoiseProfile(),
        method="single",
        speedup=1.0,
        means=none,
        variances=none,
        counts=none,
        slope=0.0,
        intercept=0.0,
        x_correlation=0.5,
        y_correlation=0.25,
    )
    task = BlindSpotTask.from_fit(fit)
    assert task.radius == (1, 2) and task.describe() == "blind-spot boxes of 3×5 px (y×x)"


def test_hidden_boxes_are_filled_from_beyond_the_correlated_neighbours() -> None:
    task = BlindSpotTask(radius_y=1, radius_x=2)
    sy, sx = task.stride
    patches = torch.randn(6, 2, 4 * sy, 4 * sx)
    generator = torch.Generator().manual_seed(3)
    masked, (oy, ox) = task.masked(patches, generator)
    changed = masked != patches
    assert changed.any(dim=(0, 1)).sum() <= 16 * 3 * 5  # at most the boxes of a 4×4 grid
    assert torch.equal(changed[0, 0], changed[5, 1])  # one grid for the whole batch
    for sample in range(6):
        centre = masked[sample, :, oy + sy, ox + sx]
        box = patches[sample, :, oy + sy - 1 : oy + sy + 2, ox + sx - 2 : ox + sx + 3]
        # the centre now holds a pixel from outside its own 3×5 box, never its own value
        assert not torch.isclose(centre[:, None, None], box).any()
        assert torch.equal(
            changed[sample, :, oy + sy - 1 : oy + sy + 2, ox + sx - 2 : ox + sx + 3],
            torch.ones(2, 3, 5, dtype=torch.bool),
        )
        assert not changed[sample, :, oy + sy, ox + sx + 3].any()  # visible right of the box


class _Identity(nn.Module):
    window = 1

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x


def test_the_loss_is_scored_at_the_box_centres_against_the_unmasked_patch() -> None:
    """An identity network outputs the fill at each centre: the loss is the MSE between the
    fills and the hidden values, not zero as without the mask."""
    torch.manual_seed(0)
    task = BlindSpotTask()
    patches = torch.randn(4, 1, 16, 16)
    module = RestorationModule(_Identity(), task, "1*MSE", OptimizerSection())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        loss = float(module.training_step((patches, patches), 0).detach())
    assert loss == pytest.approx(2.0, rel=0.35)  # E (a − b)² for independent unit normals
