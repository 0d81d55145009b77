"""The one training loop for every task, as a LightningModule.

Lightning runs the loop (devices, DDP, mixed precision, budgets, progress); this module only
says what one step is. The task decides which window slices are scored, and whether the
step also trains target → input (``Task.symmetric``, self-supervised pairs); a task that needs
the network itself for its loss (Neighbor2Neighbor's consistency term) defines
``training_loss(model, inputs, loss)``. The network never knows the task.

Reduce-on-plateau is stepped here, right after validation, and saved with the Lightning
checkpoint together with the RNG states, so a resumed run makes the same decisions as an
uninterrupted one (Lightning itself skips the plateau step of the epoch it resumes after).
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vemrestore.config.training import OptimizerSection
from vemrestore.evaluation.metrics import psnr_from_mse, ssim
from vemrestore.tasks.base import Task
from vemrestore.tasks.losses import WeightedLoss

Batch = tuple[torch.Tensor, torch.Tensor]
_PANEL_SAMPLES = 3


class RestorationModule(L.LightningModule):
    """Trains ``model`` on (input, target) batches of (B, D, H, W) float32 windows."""

    def __init__(self, model: nn.Module, task: Task, loss: str, optimizer: OptimizerSection):
        super().__init__()
        self.model = model
        self.task = task
        self.loss = WeightedLoss(loss)
        self.optimizer_config = optimizer
        self.scored = task.scored_slices(model.window)
        self.plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._pending_plateau: dict[str, Any] | None = None
        self._sums: dict[str, float] = {}
        self.panels: torch.Tensor | None = None
        self.validation_metrics: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _add(self, name: str, value: torch.Tensor, weight: int) -> None:
        self._sums[name] = self._sums.get(name, 0.0) + float(value.detach()) * weight
        self._sums[f"{name}#n"] = self._sums.get(f"{name}#n", 0.0) + weight

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        inputs, target = batch
        s = self.scored
        own_loss = getattr(self.task, "training_loss", None)
        if own_loss is not None:
            loss = own_loss(self.model, inputs, self.loss)
        else:
            loss = self.loss(self.model(inputs)[:, s], target[:, s])
            if self.task.symmetric:
                loss = (loss + self.loss(self.model(target)[:, s], inputs[:, s])) / 2
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        self._add("train_loss", loss, len(inputs))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        inputs, target = batch
        output = self.model(inputs)
        s = self.scored
        count = len(inputs)
        self._add("val_loss", self.loss(output[:, s], target[:, s]), count)
        self._add("val_mse", F.mse_loss(output[:, s].double(), target[:, s].double()), count)
        self._add("val_ssim", ssim(output[:, s], target[:, s]), count)
        self._add("input_mse", F.mse_loss(inputs[:, s].double(), target[:, s].double()), count)
        self._add("input_ssim", ssim(inputs[:, s], target[:, s]), count)
        if batch_idx == 0:
            self.panels = _panel(inputs, output, target, s)

    def epoch_means(self, prefix: str) -> dict[str, float]:
        """Means of this epoch's ``prefix*`` values over all ranks; resets them."""
        names = sorted(k for k in self._sums if k.startswith(prefix) and not k.endswith("#n"))
        if not names:
            return {}
        values = torch.tensor(
            [[self._sums.pop(n), self._sums.pop(f"{n}#n")] for n in names], dtype=torch.float64
        )
        values = self.trainer.strategy.reduce(values.to(self.device), reduce_op="sum").cpu()
        return {n: float(v[0] / v[1]) for n, v in zip(names, values, strict=True)}

    def on_validation_epoch_start(self) -> None:
        for key in [k for k in self._sums if not k.startswith("train")]:
            del self._sums[key]

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        metrics = {
            **self.epoch_means("val_"),
            **self.epoch_means("input_"),
        }
        # PSNR of the pooled MSE of all validation patches: the project's one definition
        for prefix in ("val", "input"):
            if f"{prefix}_mse" in metrics:
                metrics[f"{prefix}_psnr"] = float(psnr_from_mse(metrics.pop(f"{prefix}_mse")))
        self.validation_metrics = metrics
        for name, value in metrics.items():
            self.log(name.replace("_", "/", 1), value, prog_bar=name == "val_psnr")
        if self.plateau is not None and "val_psnr" in metrics:
            self.plateau.step(metrics["val_psnr"])
        self.log("lr", self.learning_rate())

    def learning_rate(self) -> float:
        return float(self.trainer.optimizers[0].param_groups[0]["lr"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        cfg = self.optimizer_config
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=cfg.plateau_factor,
            patience=cfg.plateau_patience,
            min_lr=cfg.min_lr,
        )
        if self._pending_plateau is not None:
            self.plateau.load_state_dict(self._pending_plateau)
        return optimizer

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.plateau is not None:
            checkpoint["vemrestore_plateau"] = self.plateau.state_dict()
        checkpoint["vemrestore_rng"] = _rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._pending_plateau = checkpoint.get("vemrestore_plateau")
        if "vemrestore_rng" in checkpoint:
            _set_rng_state(checkpoint["vemrestore_rng"])


def _panel(
    inputs: torch.Tensor, output: torch.Tensor, target: torch.Tensor, s: slice
) -> torch.Tensor:
    """(1, H·n, 3W) image in 0..1: input | output | target, middle scored slice, n samples."""
    z = (s.start + s.stop - 1) // 2
    rows = [
        torch.cat([inputs[i, z], output[i, z], target[i, z]], dim=-1)
        for i in range(min(_PANEL_SAMPLES, len(inputs)))
    ]
    return torch.cat(rows, dim=-2).detach().float().clamp(0, 1).cpu()[None]


def _rng_state() -> dict[str, Any]:
    """Global RNG states as checkpoint-safe values (tensors, ints, lists)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [name, keys.tolist(), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
