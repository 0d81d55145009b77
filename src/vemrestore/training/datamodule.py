"""Data loaders for the loop: per-rank epoch samplers over seeded random patches."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader

from vemrestore.config.training import TrainingConfig
from vemrestore.data.patches import EpochSampler, PatchSource, TrainPatches, ValidationPatches
from vemrestore.tasks.base import Task


class PatchDataModule(L.LightningDataModule):
    """Training batches of fresh random patches, validation on fixed held-out patches.

    Each DDP rank draws its own share of the epoch's patch indices (``EpochSampler``), so
    Lightning's own distributed sampler is switched off (``use_distributed_sampler=False``).
    """

    def __init__(self, sources: Sequence[PatchSource], task: Task, config: TrainingConfig):
        super().__init__()
        assert config.patch_size is not None, "takes configs resolved for the data"
        extent = task.source_extent(config.model.window, config.patch_size)
        self.config = config
        self.train_set = TrainPatches(sources, task, extent, config.seed, config.augment)
        self.validation_set = ValidationPatches(
            sources, task, extent, config.seed, config.validation.patches
        )

    def train_dataloader(self) -> DataLoader:
        config = self.config
        sampler = EpochSampler(
            config.steps_per_epoch * config.batch_size,
            epoch=self._current_epoch,
            rank=self.trainer.global_rank,
            world=self.trainer.world_size,
        )
        return DataLoader(
            self.train_set,
            batch_size=config.batch_size,
            sampler=sampler,
            num_workers=config.workers,
            persistent_workers=config.workers > 0,
            drop_last=True,
            pin_memory=torch.cuda.is_available(),
        )

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.validation_set, batch_size=self.config.batch_size)
