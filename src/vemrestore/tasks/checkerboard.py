"""Checkerboard self-supervised restoration: a noisy volume is its own training target.

Every slice of a noisy D×2H×2W patch is split into its four 2×2 sub-lattices (y parity,
x parity)::

    y\\x  0 1 0 1            (0,0) ■ · ■ ·      A = the (0,0) lattice  (D, H, W)
    0    ■ □ ■ □            (1,1) · · · ·      B = the (1,1) lattice  (D, H, W)
    1    □ ■ □ ■                  · ■ · ■
    0    ■ □ ■ □            A and B sample the same structure one diagonal step apart,
    1    □ ■ □ ■            with independent noise: f(A) → B teaches f to remove noise.

Training uses a diagonal pair, input A and target B, with the symmetric loss
``(loss(f(A), B) + loss(f(B), A)) / 2`` (the loop trains both directions because
``symmetric`` is True). Diagonal neighbours never share a scan line or a column, so noise
correlated between horizontally (or vertically) adjacent pixels, as in fast SEM scans, stays
independent between A and B; a horizontal pair would teach the network to keep that noise.

Which diagonal: the pair (0,0)&(1,1) *of the patch*. Patch corners are drawn at random
positions (``vemrestore.data.patches``), so their parity is random and, in volume
coordinates, the pair is (0,0)&(1,1) or (0,1)&(1,0) with equal probability, A and B roles
swapped at random too; 90° rotations (augmentation) exchange the two diagonals again. This is
the published random-diagonal scheme, with its randomness taken from the patch position.

Validation is deterministic: f of the (0,0) lattice against the mean of the three other
lattices (less noisy than one lattice, so the PSNR ranks checkpoints more reliably; it is a
PSNR against a noisy target and lower than the PSNR against a clean volume would be).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vemrestore.tasks.base import Loss


def sublattice(volume: np.ndarray, y_parity: int, x_parity: int) -> np.ndarray:
    """The (y_parity, x_parity) sub-lattice of a (..., Y, X) array: a strided view."""
    return volume[..., y_parity::2, x_parity::2]


class CheckerboardTask:
    """Learn restoration from one noisy volume by predicting one sub-lattice from another."""

    name = "self_supervised"
    symmetric = True

    def source_extent(self, window: int, patch_size: tuple[int, int]) -> tuple[int, int, int]:
        return (window, 2 * patch_size[0], 2 * patch_size[1])

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(D, 2H, 2W) ``noisy`` → input A = lattice (0,0), target B = lattice (1,1); float32."""
        noisy = patch["noisy"]
        return (
            np.ascontiguousarray(sublattice(noisy, 0, 0), dtype=np.float32),
            np.ascontiguousarray(sublattice(noisy, 1, 1), dtype=np.float32),
        )

    def validation_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(D, 2H, 2W) ``noisy`` → lattice (0,0) and the mean of the other three; float32."""
        noisy = patch["noisy"].astype(np.float32, copy=False)
        others = sublattice(noisy, 0, 1) + sublattice(noisy, 1, 0) + sublattice(noisy, 1, 1)
        return (
            np.ascontiguousarray(sublattice(noisy, 0, 0)),
            np.ascontiguousarray(others / np.float32(3)),
        )

    def scored_slices(self, window: int) -> slice:
        return slice(0, window)


class WholePatchTask(CheckerboardTask):
    """The checkerboard's patches and validation, but each training example is the whole
    (D, 2H, 2W) patch: the subclass's ``training_loss`` takes it apart itself."""

    def make_example(
        self, patch: dict[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(D, 2H, 2W) ``noisy`` → (patch, patch)."""
        noisy = np.ascontiguousarray(patch["noisy"], dtype=np.float32)
        return noisy, noisy


class Neighbor2NeighborTask(WholePatchTask):
    """The checkerboard pair plus a consistency term against the full-resolution restoration
    (Neighbor2Neighbor, Huang et al. 2021), because a network trained on half-resolution
    lattices is applied to the full-resolution volume.

    Training examples are whole (D, 2H, 2W) patches; ``training_loss`` splits them. With
    ``R = f(y)`` the network's restoration of the whole patch (no gradient), the loss is the
    checkerboard loss plus ``weight ·`` the mean of ``(f(A) − B − (R_A − R_B))²`` over both
    directions: where the noise is independent between A and B the term is zero for the ideal
    restorer, and it pulls the sub-lattice restoration towards what the network does at full
    resolution. Validation is the checkerboard's.
    """

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def training_loss(self, model: nn.Module, patches: torch.Tensor, loss: Loss) -> torch.Tensor:
        """The loss of one batch of whole (B, D, 2H, 2W) patches (see class doc)."""
        a, b = sublattice(patches, 0, 0), sublattice(patches, 1, 1)
        with torch.no_grad():
            whole = model(patches)
        gap = sublattice(whole, 0, 0) - sublattice(whole, 1, 1)
        restored_a, restored_b = model(a), model(b)
        reconstruction = (loss(restored_a, b) + loss(restored_b, a)) / 2
        consistency = ((restored_a - b - gap) ** 2).mean() + ((restored_b - a + gap) ** 2).mean()
        return reconstruction + self.weight * consistency / 2
