"""What a run leaves in its folder, written at the end of every epoch.

::

    RUN/config.yaml      resolved training config
    RUN/last.pt          inference checkpoint (vemrestore format) of the latest epoch
    RUN/best.pt          inference checkpoint with the best validation PSNR so far; when the
                     budget ends before the first validation, the last weights, marked
                     ``validated: False`` in its metadata
    RUN/last.ckpt        Lightning checkpoint (optimizer, scheduler, epoch, RNG) for --resume
    RUN/metrics.csv      one row per epoch
    RUN/tensorboard/     losses, lr, validation PSNR/SSIM, image panels
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from vemrestore.config import NormalizationConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.training.module import RestorationModule

CSV_COLUMNS = (
    "epoch",
    "step",
    "time_s",
    "lr",
    "train_loss",
    "val_loss",
    "val_psnr",
    "val_ssim",
    "input_psnr",
    "input_ssim",
)
LIGHTNING_CHECKPOINT = "last.ckpt"


def save_lightning_checkpoint(trainer: L.Trainer, path: Path) -> None:
    """``trainer.save_checkpoint`` to a temporary file in the run folder, then a rename.

    Lightning writes in place (truncating the previous file first), so a full disk would
    leave no checkpoint to resume from; the rename keeps the previous one until the new one
    is whole. Every rank calls this (Lightning's save is collective); rank zero writes.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        trainer.save_checkpoint(tmp, weights_only=False)  # optimizer and loops: for resume
        if trainer.is_global_zero:
            os.replace(tmp, path)
    finally:
        if trainer.is_global_zero:
            tmp.unlink(missing_ok=True)


class RunOutputs(L.Callback):
    """Writes checkpoints, the CSV and image panels; remembers the best PSNR across resumes.

    ``on_row`` receives each epoch's CSV row (e.g. to plot a live curve) once it is saved.
    """

    def __init__(
        self,
        run_dir: Path,
        normalization: NormalizationConfig,
        metadata: dict[str, Any],
        on_row: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.on_row = on_row
        self.normalization = normalization
        self.metadata = metadata
        self.best_psnr = -math.inf
        self.elapsed = 0.0
        self.last_step = -1
        self._started = time.monotonic()

    def state_dict(self) -> dict[str, Any]:
        return {"best_psnr": self.best_psnr, "elapsed": self._elapsed(), "step": self.last_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_psnr = float(state_dict["best_psnr"])
        self.elapsed = float(state_dict["elapsed"])
        self.last_step = int(state_dict["step"])
        self._started = time.monotonic()

    def _elapsed(self) -> float:
        return self.elapsed + time.monotonic() - self._started

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, RestorationModule)
        if trainer.global_step == self.last_step:
            return  # Lightning re-runs this hook for the epoch a resumed run ended on
        self.last_step = trainer.global_step
        row: dict[str, Any] = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "time_s": round(self._elapsed(), 2),
            "lr": pl_module.learning_rate(),
            **pl_module.epoch_means("train_"),
            **pl_module.validation_metrics,
        }
        pl_module.validation_metrics = {}
        improved = row.get("val_psnr", -math.inf) > self.best_psnr
        if improved:
            self.best_psnr = row["val_psnr"]
        save_lightning_checkpoint(trainer, self.run_dir / LIGHTNING_CHECKPOINT)
        if not trainer.is_global_zero:
            return
        self._save_model(pl_module, "last.pt", row)
        if improved:
            self._save_model(pl_module, "best.pt", row)
        self._append_csv(row)
        if self.on_row is not None:
            self.on_row(row)
        if pl_module.panels is not None and isinstance(trainer.logger, TensorBoardLogger):
            trainer.logger.experiment.add_image(
                "val/input_output_target", pl_module.panels, trainer.global_step
            )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A budget can stop mid-epoch (steps, max_time): keep those final weights in last.pt."""
        if trainer.is_global_zero:
            row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
            self._save_model(pl_module, "last.pt", row)
            if self.best_psnr == -math.inf:  # no validation ran yet: the last weights
                self._save_model(pl_module, "best.pt", {**row, "validated": False})

    def _save_model(self, module: L.LightningModule, name: str, row: dict[str, Any]) -> None:
        metadata = {**self.metadata, "epoch": row["epoch"], "step": row["step"]}
        metadata["validated"] = row.get("validated", "val_psnr" in row)
        for key in ("val_psnr", "val_ssim", "input_psnr", "input_ssim"):
            if key in row:
                metadata[key] = row[key]
        save_checkpoint(self.run_dir / name, module.model, self.normalization, metadata)

    def _append_csv(self, row: dict[str, Any]) -> None:
        path = self.run_dir / "metrics.csv"
        new = not path.exists()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
