"""Pairing checks (shape, dtype, registration), hold-out split, augmentation, sampling."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from vemrestore.config import NormalizationConfig
from vemrestore.data.pairs import TrainingPair, find_pairs, load_pairs
from vemrestore.data.patches import (
    EpochSampler,
    TrainPatches,
    ValidationPatches,
    augment,
    split_regions,
)
from vemrestore.errors import VemRestoreError
from vemrestore.tasks.supervised import SupervisedTask


def _write(folder: Path, name: str, data: np.ndarray) -> Path:
    tifffile.imwrite(folder / name, data, photometric="minisblack")
    return folder / name


def test_folder_pairs_by_shared_stem(tmp_path: Path) -> None:
    volume = np.zeros((2, 8, 8), np.uint8)
    for name in ("a_fast.tif", "a_slow.tif", "b_fast.tif", "b_slow.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"") if name.endswith("txt") else _write(
            tmp_path, name, volume
        )
    assert [(f.name, s.name) for f, s in find_pairs(tmp_path)] == [
        ("a_fast.tif", "a_slow.tif"),
        ("b_fast.tif", "b_slow.tif"),
    ]
    (tmp_path / "b_slow.tif").unlink()
    with pytest.raises(VemRestoreError, match="b_slow.tif"):
        find_pairs(tmp_path)


def test_mismatched_and_misregistered_pairs_are_refused(tmp_path: Path, phantom_pair) -> None:
    fast, slow = phantom_pair((5, 64, 64))
    norm = NormalizationConfig()
    f = _write(tmp_path, "f.tif", fast)
    with pytest.raises(VemRestoreError, match="shape"):
        load_pairs([(f, _write(tmp_path, "s1.tif", slow[:, :32]))], norm)
    with pytest.raises(VemRestoreError, match="dtype"):
        load_pairs([(f, _write(tmp_path, "s2.tif", (slow * 255).astype(np.uint8)))], norm)
    shifted = _write(tmp_path, "s3.tif", np.roll(slow, (2, -3), axis=(1, 2)))
    with pytest.raises(VemRestoreError, match=r"shift dy=2, dx=-3 px"):
        load_pairs([(f, shifted)], norm)
    pairs = load_pairs([(f, _write(tmp_path, "s4.tif", slow)), (f, shifted)], norm, None)
    assert len(pairs) == 2  # every pair is used; the check can be switched off


def _pair(depth: int = 20) -> TrainingPair:
    volume = np.arange(depth * 32 * 32, dtype=np.float32).reshape(depth, 32, 32)
    return TrainingPair("p", volume, volume + 0.5)


def test_training_patches_never_touch_the_validation_region() -> None:
    (source,) = split_regions([_pair()], (5, 16, 16), "z", 0.1)
    assert source.train[0] == slice(0, 15) and source.validation[0] == slice(15, 20)
    patches = TrainPatches([source], SupervisedTask(), (5, 16, 16), seed=3, augment=False)
    for index in range(200):
        inputs, target = patches[index]
        assert inputs.max() < 15 * 32 * 32  # only z < 15
        assert np.array_equal(target.numpy(), inputs.numpy() + 0.5)
    validation = ValidationPatches([source], SupervisedTask(), (5, 16, 16), 3, 4)
    assert all(v[0].min() >= 15 * 32 * 32 for v in validation.examples)
    again = ValidationPatches([source], SupervisedTask(), (5, 16, 16), 3, 4)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(validation, again, strict=True))
    with pytest.raises(VemRestoreError, match="along z"):
        split_regions([_pair(8)], (5, 16, 16), "z", 0.1)


def test_augmentation_is_identical_for_input_and_target(rng: np.random.Generator) -> None:
    a = rng.random((5, 8, 8)).astype(np.float32)
    seen = set()
    for seed in range(30):
        x, y = augment((a, a + 1), np.random.default_rng(seed))
        assert np.array_equal(x + 1, y)
        seen.add(x.tobytes())
    assert len(seen) > 10  # flips and rotations vary


def test_augmented_single_slice_patches_convert_to_tensors(rng: np.random.Generator) -> None:
    """A window-1 patch flipped in z keeps a negative stride unless copied; torch refuses it."""
    single = rng.random((1, 8, 8)).astype(np.float32)
    for seed in range(200):  # a z flip alone, unrotated, is 1 in 32
        for array in augment((single, single), np.random.default_rng(seed)):
            assert torch.equal(torch.from_numpy(array), torch.tensor(array))


def test_epoch_sampler_gives_disjoint_indices_per_rank_and_epoch() -> None:
    seen = []
    for epoch in range(2):
        for rank in range(2):
            sampler = EpochSampler(3, lambda e=epoch: e, rank, 2)
            seen += list(sampler)
    assert sorted(seen) == list(range(12))
