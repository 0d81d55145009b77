"""What a task is: how source patches become (input, target), and which slices are scored.

The training loop and the network know nothing else about the task, so supervised,
key-slice and self-supervised training share one loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A training loss of (prediction, target), as ``tasks.losses.WeightedLoss``."""


class Task(Protocol):
    """An objective: source windows in, one (input, target) training example out."""

    name: str
    symmetric: bool
    """True when input and target are interchangeable noisy views of one signal: the loop
    then also trains target → input and averages the two losses (self-supervised pairs)."""

    def source_extent(self, window: int, patch_size: tuple[int, int]) -> tuple[int, int, int]:
        """(z, y, x) size read from each source volume for a network window of ``window``."""
        ...

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source patches by role (``fast``/``slow``, ``noisy`` or ``clean``) → (input, target)
        (D, H, W) float32. ``rng`` is the patch's seeded generator, for tasks that draw noise."""
        ...

    def validation_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (input, target) a fixed validation patch is scored on (may differ from training,
        e.g. a less noisy target where the task can afford one)."""
        ...

    def scored_slices(self, window: int) -> slice:
        """Window slices that enter loss and metrics (others are not the network's job)."""
        ...

    # A task whose loss needs the network itself (Neighbor2Neighbor's consistency term) also
    # defines ``training_loss(model, inputs, loss) -> Tensor``; the loop then calls it instead
    # of comparing ``model(input)`` with the target.
