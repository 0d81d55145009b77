"""Checkerboard task: exact sub-lattices, random diagonals, correlated noise, symmetric loss;
the Neighbor2Neighbor variant's consistency term."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from vemrestore.config.training import OptimizerSection
from vemrestore.data.noisy import NoisyVolume, pad_to_window
from vemrestore.data.patches import TrainPatches, split_regions
from vemrestore.tasks.checkerboard import CheckerboardTask, Neighbor2NeighborTask
from vemrestore.training.module import RestorationModule


def _coded(depth: int, height: int, width: int) -> np.ndarray:
    """Voxel value encodes its position: 10000 z + 100 y + x."""
    z, y, x = np.meshgrid(np.arange(depth), np.arange(height), np.arange(width), indexing="ij")
    return (10000 * z + 100 * y + x).astype(np.float32)


def test_training_pair_is_the_diagonal_and_validation_the_other_three() -> None:
    task = CheckerboardTask()
    assert task.source_extent(9, (3, 4)) == (9, 6, 8)
    assert task.symmetric and task.scored_slices(9) == slice(0, 9)
    patch = _coded(2, 4, 6)
    inputs, target = task.make_example({"noisy": patch})
    assert inputs.shape == target.shape == (2, 2, 3)
    assert inputs.dtype == target.dtype == np.float32
    np.testing.assert_array_equal(inputs, patch[:, 0::2, 0::2])
    np.testing.assert_array_equal(target, patch[:, 1::2, 1::2])
    assert inputs[1, 1, 2] == 10000 + 200 + 4 and target[1, 1, 2] == 10000 + 300 + 5
    inputs, target = task.validation_example({"noisy": patch})
    np.testing.assert_array_equal(inputs, patch[:, 0::2, 0::2])
    # output pixel (1, 2): the (0,1), (1,0), (1,1) neighbours of input pixel (2, 4)
    assert target[1, 1, 2] == pytest.approx(10000 + (205 + 304 + 305) / 3)


def test_random_patch_corners_draw_both_diagonals_with_both_roles() -> None:
    parity = _coded(9, 64, 64)
    volume = NoisyVolume("v", parity)
    extent = CheckerboardTask().source_extent(9, (8, 8))
    sources = split_regions([volume], extent, "x", 0.3)
    patches = TrainPatches(sources, CheckerboardTask(), extent, seed=0, augment=False)
    seen = set()
    for index in range(64):
        inputs, target = (t.numpy().astype(int) for t in patches[index])
        a = ((inputs[0, 0, 0] // 100) % 2, inputs[0, 0, 0] % 2)
        b = ((target[0, 0, 0] // 100) % 2, target[0, 0, 0] % 2)
        assert b == (1 - a[0], 1 - a[1]), "input and target must be diagonal neighbours"
        seen.add(a)
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_diagonal_pairs_keep_horizontally_correlated_noise_out_of_the_target() -> None:
    rng = np.random.default_rng(0)
    white = rng.normal(size=(9, 256, 257))
    noise = (white[..., 1:] + white[..., :-1]).astype(np.float32)  # neighbours along x share
    inputs, target = CheckerboardTask().make_example({"noisy": noise})
    diagonal = np.corrcoef(inputs.ravel(), target.ravel())[0, 1]
    horizontal = np.corrcoef(noise[:, 0::2, 0::2].ravel(), noise[:, 0::2, 1::2].ravel())[0, 1]
    assert abs(diagonal) < 0.01
    assert horizontal == pytest.approx(0.5, abs=0.01)


class _Scale(nn.Module):
    window = 3

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x


def test_the_loop_trains_both_directions_of_a_symmetric_task() -> None:
    module = RestorationModule(_Scale(), CheckerboardTask(), "1*MSE", OptimizerSection())
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        loss = module.training_step((a, b), 0)
    expected = (((2 * a - b) ** 2).mean() + ((2 * b - a) ** 2).mean()) / 2
    assert float(loss.detach()) == pytest.approx(float(expected))


def _train_step(task: Neighbor2NeighborTask, model: nn.Module, patches: torch.Tensor) -> float:
    module = RestorationModule(model, task, "1*MSE", OptimizerSection())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        return float(module.training_step((patches, patches), 0).detach())


def test_neighbor2neighbor_trains_on_whole_patches_and_adds_the_consistency_term() -> None:
    task = Neighbor2NeighborTask(weight=3.0)
    patch = _coded(2, 4, 6)
    inputs, target = task.make_example({"noisy": patch})
    np.testing.assert_array_equal(inputs, patch)  # the loss takes the lattices itself
    np.testing.assert_array_equal(target, patch)
    validation_input, _ = task.validation_example({"noisy": patch})
    np.testing.assert_array_equal(validation_input, patch[:, 0::2, 0::2])

    patches = torch.rand(2, 3, 8, 8)
    a, b = patches[..., 0::2, 0::2], patches[..., 1::2, 1::2]
    checkerboard = (((a - b) ** 2).mean() + ((b - a) ** 2).mean()) / 2
    # identity: the lattice restorations are exactly the full restoration's lattices → no term
    identity = _Scale()
    identity.gain.data.fill_(1.0)
    assert _train_step(task, identity, patches) == pytest.approx(float(checkerboard))
    # gain 2: f(A) − B − (f(y)_A − f(y)_B) = 2A − B − 2A + 2B = B, and symmetrically A
    doubled = _Scale()
    expected_reconstruction = (((2 * a - b) ** 2).mean() + ((2 * b - a) ** 2).mean()) / 2
    expected = expected_reconstruction + 3.0 * ((b**2).mean() + (a**2).mean()) / 2
    assert _train_step(task, doubled, patches) == pytest.approx(float(expected))


@pytest.mark.parametrize(("depth", "expected"), [(1, [0] * 9), (5, [2, 1, 0, 1, 2, 3, 4, 3, 2])])
def test_shallow_volumes_are_mirrored_along_z_to_the_window(depth: int, expected: list) -> None:
    volume = NoisyVolume("v", _coded(depth, 2, 2))
    padded = pad_to_window(volume, 9)
    assert [int(v) for v in padded.noisy[:, 0, 0] // 10000] == expected
    assert pad_to_window(NoisyVolume("v", _coded(9, 2, 2)), 9).noisy.shape[0] == 9
