"""Python entry points of training: ``train`` a new run folder, ``resume`` an existing one.

A run folder holds everything of one run (see ``vemrestore.training.outputs``); the config
saved there is what ``resume`` continues with.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from vemrestore import __version__
from vemrestore.checkpoint import load_checkpoint
from vemrestore.config.training import (
    TrainingConfig,
    load_training_config,
    parse_duration,
    save_training_config,
)
from vemrestore.data.pairs import find_pairs, load_pairs
from vemrestore.data.patches import split_regions
from vemrestore.errors import VemRestoreError
from vemrestore.models import create_model
from vemrestore.tasks.base import Task
from vemrestore.tasks.key_slices import KeySliceTask
from vemrestore.tasks.supervised import SupervisedTask
from vemrestore.training.datamodule import PatchDataModule
from vemrestore.training.module import RestorationModule
from vemrestore.training.outputs import LIGHTNING_CHECKPOINT, RunOutputs

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class TrainResult:
    """Where a finished run left its checkpoints, and its best validation PSNR (dB)."""

    run_dir: Path
    last: Path
    best: Path
    best_psnr: float
    epochs: int
    steps: int


def train(
    config: TrainingConfig,
    out: PathLike,
    init: PathLike | None = None,
    progress: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> TrainResult:
    """Train a new run into the folder ``out`` (must not hold a run already).

    ``init`` starts from the weights of an inference checkpoint (fine-tuning); its network
    must match ``config.model``. ``callbacks`` are extra Lightning callbacks.
    """
    run_dir = Path(out)
    if (run_dir / CONFIG_FILE).exists():
        raise VemRestoreError(f"{run_dir}: already holds a run; use --resume or a new --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    config = config.resolved()
    save_training_config(config, run_dir / CONFIG_FILE)
    return _fit(config, run_dir, init, None, progress, callbacks)


def resume(
    run: PathLike,
    overrides: list[str] | None = None,
    progress: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> TrainResult:
    """Continue the run in folder ``run`` exactly where its last epoch ended.

    ``overrides`` (``key=value``) change the saved config, e.g. a larger budget; the saved
    config is updated so the folder keeps describing the run.
    """
    run_dir = Path(run)
    checkpoint = run_dir / LIGHTNING_CHECKPOINT
    if not checkpoint.is_file():
        raise VemRestoreError(f"{checkpoint}: no checkpoint to resume (the run ended no epoch)")
    config = load_training_config(run_dir / CONFIG_FILE, overrides).resolved()
    save_training_config(config, run_dir / CONFIG_FILE)
    return _fit(config, run_dir, None, checkpoint, progress, callbacks)


def build_task(config: TrainingConfig) -> Task:
    """The objective a config asks for: key-slice emulation or plain fast → slow."""
    if config.key_slices is not None:
        return KeySliceTask(config.key_slices.period)
    return SupervisedTask()


def _pair_paths(config: TrainingConfig) -> list[tuple[Path, Path]]:
    pairs = [(Path(p.fast), Path(p.slow)) for p in config.data.pairs]
    if config.data.folder is not None:
        pairs += find_pairs(config.data.folder)
    return pairs


def _build_model(config: TrainingConfig, init: PathLike | None) -> nn.Module:
    try:
        model = create_model(config.model.name, **config.model.params)
    except ValueError as error:
        raise VemRestoreError(f"model: {error}") from None
    if init is not None:
        start = load_checkpoint(init).model
        if (start.model_name, start.model_params) != (model.model_name, model.model_params):
            raise VemRestoreError(
                f"{init}: holds {start.model_name} {start.model_params}, but the config asks "
                f"for {model.model_name} {model.model_params}"
            )
        model.load_state_dict(start.state_dict())
    return model


def _precision(config: TrainingConfig) -> str:
    if config.precision != "auto":
        return config.precision
    on_gpu = config.accelerator != "cpu" and torch.cuda.is_available()
    return "16-mixed" if on_gpu else "32-true"


def _fit(
    config: TrainingConfig,
    run_dir: Path,
    init: PathLike | None,
    checkpoint: Path | None,
    progress: bool,
    callbacks: Sequence[L.Callback],
) -> TrainResult:
    L.seed_everything(config.seed, workers=True, verbose=False)
    task = build_task(config)
    max_shift = config.data.max_shift if config.data.check_registration else None
    pairs = load_pairs(_pair_paths(config), config.data.normalization, max_shift)
    extent = task.source_extent(config.model.window, config.patch_size)
    sources = split_regions(pairs, extent, config.validation.axis, config.validation.fraction)
    data = PatchDataModule(sources, task, config)
    model = _build_model(config, init)
    module = RestorationModule(model, task, config.loss, config.optimizer)
    metadata = {
        "task": task.name,
        "config": config.model_dump(mode="json"),
        "vemrestore_version": __version__,
    }
    outputs = RunOutputs(run_dir, config.data.normalization, metadata)
    trainer = L.Trainer(
        max_epochs=config.epochs if config.epochs is not None else -1,
        max_steps=config.steps if config.steps is not None else -1,
        max_time=parse_duration(config.max_time) if config.max_time else None,
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=_precision(config),
        use_distributed_sampler=False,
        logger=TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False),
        callbacks=[outputs, *callbacks],
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=min(50, config.steps_per_epoch),
        default_root_dir=run_dir,
    )
    trainer.fit(module, datamodule=data, ckpt_path=checkpoint)
    # read back from the files: under ddp_spawn the loop ran in other processes
    best, last = run_dir / "best.pt", run_dir / "last.pt"
    final = load_checkpoint(last).metadata
    best_psnr = load_checkpoint(best).metadata["val_psnr"] if best.is_file() else float("nan")
    logger.info("run %s: %d epochs, %d steps", run_dir, final["epoch"], final["step"])
    return TrainResult(
        run_dir=run_dir,
        last=last,
        best=best,
        best_psnr=float(best_psnr),
        epochs=int(final["epoch"]),
        steps=int(final["step"]),
    )
