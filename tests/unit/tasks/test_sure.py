"""SURE self-supervision: examples are (noisy, noise draw); the loss and the validation
estimate are Stein's unbiased risk estimate, exact for linear restorations."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from vemrestore.config.training import OptimizerSection
from vemrestore.tasks.synthetic import SureTask
from vemrestore.training.module import RestorationModule


class _Gain(nn.Module):
    window = 1

    def __init__(self, gain: float) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x


def _task() -> SureTask:
    return SureTask(gain=0.01, read_variance=1e-4, pole=0.3, y_correlation=0.2)


def test_examples_pair_the_patch_with_a_draw_of_its_noise() -> None:
    task = _task()
    noisy = np.full((1, 64, 64), 0.5, dtype=np.float32)
    inputs, noise = task.make_example({"noisy": noisy}, np.random.default_rng(0))
    np.testing.assert_array_equal(inputs, noisy)
    assert noise.shape == noisy.shape and noise.dtype == np.float32
    # variance gain·s + read = 0.0051 at s = 0.5, before the scan's low-pass with pole 0.3,
    # which keeps (1 − a)/(1 + a) of it
    assert float(noise.var()) == pytest.approx(0.0051 * 0.7 / 1.3, rel=0.1)
    repeated = task.make_example({"noisy": noisy}, np.random.default_rng(0))[1]
    np.testing.assert_array_equal(repeated, noise)  # seeded: reproducible


@pytest.mark.parametrize("gain", [1.0, 0.5, 0.0])
def test_loss_and_estimate_are_exact_for_a_linear_restoration(gain: float) -> None:
    """f(y) = g·y: SURE = (g − 1)² E y² + 2 g E m² (m·(f(y + εm) − f(y))/ε = g m²)."""
    task = _task()
    y, m = torch.rand(2, 1, 16, 16), 0.1 * torch.randn(2, 1, 16, 16)
    expected = (gain - 1) ** 2 * (y**2).mean() + 2 * gain * (m**2).mean()
    module = RestorationModule(_Gain(gain), task, "1*MSE", OptimizerSection())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        loss = module.training_step((y, m), 0)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-4)
    output, output_mse, input_mse = task.validation_estimate(_Gain(gain), y, m)
    assert float(input_mse) == pytest.approx(float((m.double() ** 2).mean()))
    assert float(output_mse) == pytest.approx(
        float(expected) - float(input_mse), rel=1e-4, abs=1e-7
    )
    torch.testing.assert_close(output, gain * y)
