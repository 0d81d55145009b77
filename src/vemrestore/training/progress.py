"""One progress bar for the whole training budget, with the ETA to its end.

Lightning's own bar counts batches of one epoch (``Epoch 0/-2`` when the budget is steps or
time), so its ETA is the end of the epoch, not of the run. This bar counts optimizer steps
when the budget is steps or epochs (the nearer of the two), else seconds of ``max_time``.
"""

from __future__ import annotations

import time
from datetime import timedelta

import lightning as L
from tqdm import tqdm


class BudgetProgress(L.Callback):
    """A tqdm bar over the budget: ``steps`` (None: no step limit), ``seconds`` (None: no
    time limit); the training loss and the last validation PSNR as its postfix."""

    def __init__(self, steps: int | None, seconds: float | None) -> None:
        self.steps = steps
        self.seconds = seconds
        self.bar: tqdm | None = None
        self._started = 0.0
        self._offset = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._started = time.monotonic()
        self._offset = trainer.global_step
        by_steps = self.steps is not None
        self.bar = tqdm(
            total=self.steps if by_steps else round(self.seconds or 0) or None,
            initial=trainer.global_step if by_steps else 0,
            unit="step" if by_steps else "s",
            desc="training",
            dynamic_ncols=True,
        )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.bar is None:
            return
        if self.steps is not None:
            self.bar.n = trainer.global_step
        else:
            self.bar.n = min(self.bar.total or 0, round(time.monotonic() - self._started))
        loss = trainer.callback_metrics.get("train/loss")
        psnr = trainer.callback_metrics.get("val/psnr")
        postfix = {"step": trainer.global_step}
        if loss is not None:
            postfix["loss"] = f"{float(loss):.4f}"
        if psnr is not None:
            postfix["val PSNR"] = f"{float(psnr):.2f} dB"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def budget_progress(
    epochs: int | None, steps: int | None, steps_per_epoch: int, max_time: timedelta | None
) -> BudgetProgress:
    """The bar for a budget: steps (the nearer of ``steps`` and ``epochs`` × steps per epoch)
    when there is a step or epoch limit, else the seconds of ``max_time``."""
    limits = [limit for limit in (steps, epochs and epochs * steps_per_epoch) if limit]
    seconds = max_time.total_seconds() if max_time is not None else None
    return BudgetProgress(min(limits) if limits else None, seconds)
