"""Random training patches, fixed validation patches and their hold-out region.

Each pair is split along one axis: the last ``fraction`` (at least one patch deep) is the
validation region, the rest the training region; a training patch never overlaps validation.

Patches are drawn from a generator seeded by ``(seed, index)``, so patch ``i`` of epoch ``e``
is the same whichever data-loader worker, DDP rank or resumed run produces it — that is what
makes ``--resume`` reproduce an uninterrupted run, and gives every worker distinct patches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vemrestore.errors import VemRestoreError
from vemrestore.tasks.base import Task

Box = tuple[slice, slice, slice]


class TrainingVolumes(Protocol):
    """Co-registered (Z, Y, X) float32 arrays by role, e.g. a (fast, slow) ``TrainingPair``
    or a single ``NoisyVolume``; patches cut the same window from each."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> tuple[int, int, int]: ...

    @property
    def volumes(self) -> dict[str, np.ndarray]: ...


_VALIDATION_STREAM = 2**32 - 1


@dataclass(frozen=True)
class PatchSource:
    """Where patches of one pair may come from: (z, y, x) boxes of the train and val regions."""

    pair: TrainingVolumes
    train: Box
    validation: Box


def split_regions(
    pairs: Sequence[TrainingVolumes], extent: tuple[int, int, int], axis: str, fraction: float
) -> list[PatchSource]:
    """Hold out the last ``fraction`` of each pair along ``axis`` (at least ``extent`` deep).

    ``extent`` is the (z, y, x) size of one source patch; both regions must hold one.
    """
    dim = "zyx".index(axis)
    sources = []
    for pair in pairs:
        shape = pair.shape
        for size, need, name in zip(shape, extent, "zyx", strict=True):
            if size < need:
                raise VemRestoreError(
                    f"{pair.name}: {size} voxels along {name}, a patch needs {need}; "
                    "use a smaller patch_size or window"
                )
        held = _held_out(shape[dim], extent[dim], fraction)
        if shape[dim] - held < extent[dim]:
            raise VemRestoreError(
                f"{pair.name}: {shape[dim]} voxels along {axis} cannot hold a training and a "
                f"validation patch of {extent[dim]}; hold out along another axis "
                "(validation.axis) or use a smaller patch_size"
            )
        train = [slice(0, s) for s in shape]
        validation = [slice(0, s) for s in shape]
        train[dim] = slice(0, shape[dim] - held)
        validation[dim] = slice(shape[dim] - held, shape[dim])
        sources.append(PatchSource(pair, tuple(train), tuple(validation)))
    return sources


def _held_out(size: int, extent: int, fraction: float) -> int:
    """Voxels held out for validation along the split axis: ``fraction``, at least a patch."""
    return max(math.ceil(fraction * size), extent)


def holds_split(
    shape: tuple[int, int, int], extent: tuple[int, int, int], axis: str, fraction: float
) -> bool:
    """Whether ``split_regions`` can cut a volume of ``shape`` along ``axis``: a source patch
    of ``extent`` fits, and both the training and the validation region hold one."""
    if any(size < need for size, need in zip(shape, extent, strict=True)):
        return False
    dim = "zyx".index(axis)
    return shape[dim] - _held_out(shape[dim], extent[dim], fraction) >= extent[dim]


def _random_patch(
    source: PatchSource, box: Box, extent: tuple[int, int, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The same random (D, H, W) window from every volume of the source inside ``box``."""
    corner = [int(rng.integers(b.start, b.stop - e + 1)) for b, e in zip(box, extent, strict=True)]
    region = tuple(slice(c, c + e) for c, e in zip(corner, extent, strict=True))
    return {role: volume[region] for role, volume in source.pair.volumes.items()}


def augment(arrays: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The same random flips in z, y, x and 90° xy rotation applied to each (D, H, W) array.

    Non-square patches are rotated by 0° or 180° only, so batches keep one shape.
    """
    flips = tuple(axis for axis in range(3) if rng.random() < 0.5)
    square = arrays[0].shape[1] == arrays[0].shape[2]
    turns = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
    # copy(), not ascontiguousarray(): a flipped axis of length 1 counts as contiguous but
    # keeps its negative stride, which torch.from_numpy refuses (window-1 networks)
    return tuple(np.rot90(np.flip(a, flips), turns, axes=(1, 2)).copy() for a in arrays)


def _area(box: Box) -> int:
    return math.prod(b.stop - b.start for b in box)


class TrainPatches(Dataset):
    """Item ``index`` → (input, target) float32 tensors of the task's window shape.

    The pair is chosen in proportion to its training-region size; the generator is seeded by
    ``(seed, index)`` (see the module docstring).
    """

    def __init__(
        self,
        sources: Sequence[PatchSource],
        task: Task,
        extent: tuple[int, int, int],
        seed: int,
        augment: bool,
    ) -> None:
        self.sources = list(sources)
        self.task = task
        self.extent = extent
        self.seed = seed
        self.augment = augment
        sizes = np.array([_area(s.train) for s in self.sources], dtype=np.float64)
        self.weights = sizes / sizes.sum()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        source = self.sources[int(rng.choice(len(self.sources), p=self.weights))]
        example = self.task.make_example(
            _random_patch(source, source.train, self.extent, rng), rng=rng
        )
        if self.augment:
            example = augment(example, rng)
        return torch.from_numpy(example[0]), torch.from_numpy(example[1])


class ValidationPatches(Dataset):
    """``count`` fixed (input, target) pairs from the validation regions, chosen by ``seed``."""

    def __init__(
        self,
        sources: Sequence[PatchSource],
        task: Task,
        extent: tuple[int, int, int],
        seed: int,
        count: int,
    ) -> None:
        rng = np.random.default_rng([seed, _VALIDATION_STREAM])
        self.examples = []
        for index in range(count):
            source = sources[index % len(sources)]
            inputs, target = task.validation_example(
                _random_patch(source, source.validation, extent, rng), rng=rng
            )
            self.examples.append((torch.from_numpy(inputs), torch.from_numpy(target)))

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.examples[index]


class EpochSampler(Sampler[int]):
    """Indices of one epoch for one DDP rank: fresh, never repeated, independent of resume.

    Rank ``r`` of ``world`` reads ``per_rank`` indices starting at ``(e * world + r) * per_rank``
    where ``e = epoch()`` when iteration starts. The epoch is asked for, not pushed with
    ``set_epoch``: Lightning's own sampler-epoch counter runs one ahead after a resume.
    """

    def __init__(self, per_rank: int, epoch: Callable[[], int], rank: int = 0, world: int = 1):
        self.per_rank = per_rank
        self.epoch = epoch
        self.rank = rank
        self.world = world

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[int]:
        start = (self.epoch() * self.world + self.rank) * self.per_rank
        return iter(range(start, start + self.per_rank))
