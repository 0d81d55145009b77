import numpy as np
import pytest
import torch
from torch import nn


class RandomConv3d(nn.Module):
    """A random-weight 2.5D model with a receptive field of ±2 voxels along every axis.

    Any tiling whose halo (overlap // 4) is at least 2 must reproduce its whole-volume output.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.layers = nn.Sequential(
            nn.Conv3d(1, 6, 3, padding=1), nn.Tanh(), nn.Conv3d(6, 1, 3, padding=1)
        )
        self.window = 5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x.unsqueeze(1)).squeeze(1)


@pytest.fixture
def random_conv_model() -> nn.Module:
    return RandomConv3d().eval()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
