"""Training state survives hostile files and unlucky conditions: a crafted ``last.ckpt`` runs
nothing, a full disk keeps the previous checkpoint, a bad override or a failed first run
leaves nothing that blocks the corrected command."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vemrestore.config.training import TrainingConfig
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.files import load_checkpoint
from vemrestore.training.run import resume, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def pair_folder(make_pair_folder) -> Path:
    return make_pair_folder((8, 48, 48))


def tiny_config(folder: Path, steps: int = 3) -> TrainingConfig:
    return TrainingConfig(
        model={"name": "unet2p5d", "params": {"window": 3, "base_channels": 4, "depth": 1}},
        data={"folder": str(folder), "check_registration": False},
        validation={"axis": "x", "fraction": 0.25, "patches": 2},
        patch_size=(16, 16),
        epochs=None,
        steps=steps,
        steps_per_epoch=3,
        batch_size=2,
    )


class _WritesMarker:
    """Unpickling this calls ``Path.write_text(marker, ...)``: code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def test_a_crafted_last_ckpt_is_refused_on_resume_and_runs_nothing(pair_folder, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(pair_folder), run)
    marker = tmp_path / "marker"
    torch.save({"state_dict": {}, "payload": _WritesMarker(marker)}, run / "last.ckpt")
    with pytest.raises(VemRestoreError, match="last.ckpt: not a plain training checkpoint"):
        resume(run, ["steps=6"])
    assert not marker.exists()
    with (run / "last.ckpt").open("rb") as handle:  # the file really is hostile
        torch.load(handle, weights_only=False)
    assert marker.read_text() == "code ran"


def test_resume_passes_weights_only_to_lightning(pair_folder, tmp_path, monkeypatch):
    """Lightning loads ``last.ckpt`` weights-only too, whatever torch's default."""
    import lightning as L

    run = tmp_path / "run"
    train(tiny_config(pair_folder), run)
    seen = []
    fit = L.Trainer.fit

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "fit", spy)
    resume(run, ["steps=6"])
    assert seen == [True]


def test_disk_full_while_saving_keeps_the_previous_checkpoint(pair_folder, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(pair_folder), run)
    good = (run / "last.ckpt").read_bytes()

    def full_disk(self, checkpoint, path, storage_options=None):
        Path(path).write_bytes(b"trunc")  # what a full disk leaves: a few bytes, then ENOSPC
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", full_disk)
    with pytest.raises(OSError, match="No space left"):
        resume(run, ["steps=6"])
    assert (run / "last.ckpt").read_bytes() == good
    assert not list(run.glob(".last.ckpt*"))
    monkeypatch.undo()
    result = resume(run, ["steps=6"])
    assert result.steps == 6 and load_checkpoint(result.last).metadata["step"] == 6


def test_a_bad_override_on_resume_leaves_the_run_resumable(pair_folder, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(pair_folder), run)
    saved = (run / "config.yaml").read_text()
    with pytest.raises(VemRestoreError):
        resume(run, ["data.folder=/no/such/folder", "steps=6"])
    with pytest.raises(VemRestoreError):
        resume(run, ["batch_size=0"])
    assert (run / "config.yaml").read_text() == saved
    assert resume(run, ["steps=6"]).steps == 6


def test_a_failed_first_train_leaves_no_run_folder(pair_folder, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(VemRestoreError):
        train(tiny_config(tmp_path / "typo"), run)
    assert not run.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(VemRestoreError):
        train(tiny_config(tmp_path / "typo"), existing)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    assert train(tiny_config(pair_folder), run).steps == 3  # the corrected command runs
