"""Python entry points of training: ``train`` a new run folder, ``resume`` an existing one.

A run folder holds everything of one run (see ``vemrestore.training.outputs``); the config
saved there is what ``resume`` continues with.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from vemrestore.config.grammar import parse_duration
from vemrestore.config.training import TrainingConfig, with_self_supervised
from vemrestore.config.training_yaml import load_training_config, save_training_config
from vemrestore.data.noisy import (
    NoisyVolume,
    flatten_drift,
    load_clean,
    load_noisy,
    pad_to_window,
)
from vemrestore.data.normalization import intensity_spread
from vemrestore.data.pairs import find_pairs, load_pairs
from vemrestore.data.patches import TrainingVolumes, split_regions
from vemrestore.errors import VemRestoreError
from vemrestore.evaluation.noise import inspect_noise
from vemrestore.io import VolumeSpec, write_volume
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import load_checkpoint
from vemrestore.models import create_model
from vemrestore.pretrained import GENERALIST
from vemrestore.simulate.calibration import CalibrationFit, calibrate_single
from vemrestore.tasks.base import Task
from vemrestore.tasks.blind_spot import BlindSpotTask
from vemrestore.tasks.checkerboard import CheckerboardTask, Neighbor2NeighborTask
from vemrestore.tasks.key_slices import KeySliceTask
from vemrestore.tasks.supervised import SupervisedTask
from vemrestore.tasks.synthetic import RecorruptedTask, SyntheticNoiseTask
from vemrestore.training.datamodule import PatchDataModule
from vemrestore.training.defaults import resolve_for_data
from vemrestore.training.module import RestorationModule
from vemrestore.training.outputs import LIGHTNING_CHECKPOINT, RunOutputs
from vemrestore.training.progress import budget_progress
from vemrestore.training.quiet import quiet_lightning
from vemrestore.training.selection import (
    StartComparison,
    compare_with_start,
    mixed,
    same_layout,
)
from vemrestore.types import PathLike
from vemrestore.version import __version__

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"


class StopOnRequest(L.Callback):
    """Ends training after the current step once ``event`` is set (e.g. a Stop button)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.event.is_set():
            trainer.should_stop = True


@dataclass(frozen=True)
class TrainResult:
    """Where a finished run left its checkpoints, and its best validation PSNR (dB) beside
    the PSNR of the network's input on the same validation patches (NaN when the budget ended
    before the first validation; ``best`` then holds the last weights, ``validated`` False)."""

    run_dir: Path
    last: Path
    best: Path
    best_psnr: float
    epochs: int
    steps: int
    input_psnr: float = math.nan
    validated: bool = True
    start_comparison: StartComparison | None = None

    @property
    def warnings(self) -> list[str]:
        """What a user must know before using ``best``: it holds the starting weights, it was
        never validated, or it does not beat its own input on the validation patches."""
        if self.start_comparison is not None and self.start_comparison.keeps_start:
            return [
                f"{self.best}: fine-tuning did not improve on the starting model "
                f"({self.start_comparison.describe()}), so best.pt holds the starting model "
                f"and the fine-tuned weights are in {FINE_TUNED} (measured to happen on "
                "registered, i.e. resampled, scans, at very strong noise and where the "
                "starting model already restores well)"
            ]
        if not self.validated:
            return [
                f"{self.best}: the budget ended before the first validation, so best.pt holds "
                "the last weights, unvalidated; give a larger budget (--steps, --max-time) or "
                "a smaller steps_per_epoch"
            ]
        if not self.best_psnr > self.input_psnr:
            return [
                f"{self.best}: best validation PSNR {self.best_psnr:.2f} dB is not above the "
                f"input's {self.input_psnr:.2f} dB on the same patches: the model does not "
                "improve on its input yet; train longer, or check the data"
            ]
        return []


def train(
    config: TrainingConfig,
    out: PathLike,
    *,
    init: PathLike | None = None,
    progress: bool = False,
    callbacks: Sequence[L.Callback] = (),
    from_scratch: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train a new run into the folder ``out`` (must not hold a run already).

    ``init`` starts from the weights of an inference checkpoint (fine-tuning); its network
    must match ``config.model``. Without ``init``, supervised and self-supervised runs whose
    network is the shipped generalist's fine-tune the generalist, unless ``from_scratch``.
    ``callbacks`` are extra Lightning callbacks. ``on_epoch`` receives each epoch's row of
    ``metrics.csv``; setting ``stop`` ends the run after the current step, keeping its
    checkpoints (as a spent budget does).

    The folder is created only once the data and model check out, and removed again (or,
    if it existed before, emptied of what this call wrote) when the run fails before its
    first checkpoint: a corrected command then starts cleanly.
    """
    run_dir = Path(out)
    if (run_dir / CONFIG_FILE).exists():
        raise VemRestoreError(f"{run_dir}: already holds a run; use --resume or a new --out")
    if run_dir.exists() and not run_dir.is_dir():
        raise VemRestoreError(f"{run_dir}: exists and is not a folder; choose a new --out")
    config = config.resolved()
    if init is None and not from_scratch:
        init = default_init(config)
    if stop is not None:
        callbacks = [*callbacks, StopOnRequest(stop)]
    existed = run_dir.exists()
    before = set(run_dir.iterdir()) if existed else set()
    try:
        return _fit(config, run_dir, init, None, progress, callbacks, on_epoch)
    except BaseException:
        if not (run_dir / LIGHTNING_CHECKPOINT).exists():
            _remove_new_entries(run_dir, existed, before)
        raise


def _remove_new_entries(run_dir: Path, existed: bool, before: set[Path]) -> None:
    """Undo a failed first run: the folder if this call made it, else only its new entries."""
    if not existed:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for entry in set(run_dir.iterdir()) - before if run_dir.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def train_on_volume(
    volume: np.ndarray,
    out: PathLike,
    *,
    config: TrainingConfig | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train self-supervised on an in-memory noisy (Z, Y, X) or (Y, X) volume, e.g. a napari
    layer. It is saved as ``out/noisy.tif`` so the run folder describes the run fully;
    ``config`` sets the budget, patch size and so on (its data section gains that file)."""
    run_dir = Path(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    volume = np.asarray(volume)
    volume = volume[np.newaxis] if volume.ndim == 2 else volume
    noisy = run_dir / "noisy.tif"
    write_volume(noisy, iter(volume), VolumeSpec(volume.shape, volume.dtype), overwrite=True)
    config = with_self_supervised(config or TrainingConfig(), [str(noisy)])
    return train(config, run_dir, on_epoch=on_epoch, stop=stop)


def default_init(config: TrainingConfig) -> Path | None:
    """The shipped generalist when a resolved ``config`` trains its very network on fast
    scans (supervised or self-supervised, not key slices or synthetic noise), else None."""
    if config.synthetic is not None or config.key_slices is not None or not GENERALIST.is_file():
        return None
    generalist = load_checkpoint(GENERALIST).model
    wanted = create_model(config.model.name, **config.model.params)
    if not _same_network(generalist, wanted):
        return None
    logger.info("fine-tuning the shipped generalist %s (from_scratch to start anew)", GENERALIST)
    return GENERALIST


def resume(
    run: PathLike,
    overrides: list[str] | None = None,
    *,
    progress: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> TrainResult:
    """Continue the run in folder ``run`` exactly where its last epoch ended.

    ``overrides`` (``key=value``) change the saved config, e.g. a larger budget; the saved
    config is updated, once the changed config has loaded its data and model, so the folder
    keeps describing the run and a bad override leaves it resumable as it was.
    ``last.ckpt`` is read with ``weights_only=True``: a crafted one cannot run code.
    """
    run_dir = Path(run)
    checkpoint = run_dir / LIGHTNING_CHECKPOINT
    if not checkpoint.is_file():
        raise VemRestoreError(f"{checkpoint}: no checkpoint to resume (the run ended no epoch)")
    config = load_training_config(run_dir / CONFIG_FILE, overrides).resolved()
    _check_plain_checkpoint(checkpoint)
    return _fit(config, run_dir, None, checkpoint, progress, callbacks)


def _check_plain_checkpoint(path: Path) -> None:
    """Refuse a Lightning checkpoint that needs more than weights-only unpickling.

    Lightning is also told ``weights_only=True``; this check holds with any torch version
    (before 2.6, ``torch.load`` defaulted to full unpickling, which runs code).
    """
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise VemRestoreError(
            f"{path}: not a plain training checkpoint, refused (cannot be read safely: "
            f"{type(error).__name__}); start a new run"
        ) from None


def build_task(config: TrainingConfig, volumes: Sequence[TrainingVolumes] = ()) -> Task:
    """The objective a config asks for: synthetic noise on clean volumes, self-supervised
    (checkerboard, or recorrupted with the noise calibrated on ``volumes``), key-slice
    emulation or fast → slow."""
    if config.synthetic is not None:
        return SyntheticNoiseTask(config.synthetic.family)
    if config.self_supervised is not None:
        if config.self_supervised.method == "recorrupted":
            return _recorrupted_task(config, volumes)
        if config.self_supervised.method == "neighbor2neighbor":
            return Neighbor2NeighborTask(config.self_supervised.consistency)
        if config.self_supervised.method == "blind_spot":
            task = BlindSpotTask.from_fit(_calibrated(volumes))
            logger.info("%s", task.describe())
            return task
        return CheckerboardTask()
    if config.key_slices is not None:
        return KeySliceTask(config.key_slices.period)
    return SupervisedTask()


def _recorrupted_task(config: TrainingConfig, volumes: Sequence[TrainingVolumes]) -> Task:
    """R2R pairs need the noise model."""
    assert config.self_supervised is not None
    return RecorruptedTask.from_fit(_calibrated(volumes), alpha=config.self_supervised.alpha)


def _calibrated(volumes: Sequence[TrainingVolumes]) -> CalibrationFit:
    """The noise model of the (first) noisy volume, calibrated on up to 16 of its slices."""
    if not volumes:
        raise VemRestoreError("this self-supervised method needs a noisy volume to calibrate")
    noisy = volumes[0].volumes["noisy"]
    fit = calibrate_single(noisy[:: max(1, noisy.shape[0] // 16)])
    logger.info("noise calibrated on %s: %s", volumes[0].name, fit.profile.describe())
    return fit


def _pair_paths(config: TrainingConfig) -> list[tuple[Path, Path]]:
    pairs = [(Path(p.fast), Path(p.slow)) for p in config.data.pairs]
    if config.data.folder is not None:
        pairs += find_pairs(config.data.folder)
    return pairs


def _load_volumes(config: TrainingConfig) -> list[TrainingVolumes]:
    """The training data: registered (fast, slow) pairs, checked single noisy volumes, or
    clean volumes for synthetic training."""
    if config.synthetic is not None:
        if not config.data.clean:
            raise VemRestoreError("no clean volumes given (data.clean)")
        window = config.model.window
        return [
            pad_to_window(load_clean(path, config.data.normalization), window)
            for path in config.data.clean
        ]
    if config.self_supervised is None:
        max_shift = config.data.max_shift if config.data.check_registration else None
        return load_pairs(_pair_paths(config), config.data.normalization, max_shift)
    if not config.data.noisy:
        raise VemRestoreError("no noisy volumes given (use --noisy or data.noisy)")
    return [_checked_noisy(path, config) for path in config.data.noisy]


def _checked_noisy(path: str, config: TrainingConfig) -> NoisyVolume:
    """Load a noisy volume, inspect its noise (warn, or refuse when strict), flatten its drift
    if asked (then judge the flattened volume, which is what training sees)."""
    section = config.self_supervised
    assert section is not None
    volume = load_noisy(path, config.data.normalization)
    report = inspect_noise(volume.noisy, section.noise_tolerance)
    if section.normalize_drift:
        volume = flatten_drift(volume, report)
        report = inspect_noise(volume.noisy, section.noise_tolerance)
    if not report.uniform:
        message = (
            f"{path}: noise is not uniform across slices ({'; '.join(report.problems())}); "
            "self-supervised restoration degrades where it changes. See `vemrestore inspect "
            "noise`; crop the bad slices"
            + ("" if section.normalize_drift else ", or flatten brightness with --normalize-drift")
        )
        if section.strict:
            raise VemRestoreError(message)
        logger.warning(message)
    else:
        logger.info("%s: noise is uniform (%s)", path, report.summary()[0])
    if not section.normalize_drift:
        for remark in report.remarks():
            logger.info("%s: %s", path, remark)
    return volume


def _input_spread(volumes: Sequence[TrainingVolumes]) -> tuple[float, float]:
    """Where the network's training input sits after normalisation (``intensity_spread`` of
    the fast, noisy or clean volumes), recorded so inference can warn about different data."""
    samples = []
    for volume in volumes:
        role = next(r for r in ("fast", "noisy", "clean") if r in volume.volumes)
        samples.append(volume.volumes[role][:, ::4, ::4].ravel())
    return intensity_spread(np.concatenate(samples))


def _build_model(config: TrainingConfig, init: PathLike | None) -> nn.Module:
    try:
        model = create_model(config.model.name, **config.model.params)
    except ValueError as error:
        raise VemRestoreError(f"model: {error}") from None
    if init is not None:
        start = load_checkpoint(init).model
        if not _same_network(start, model):
            raise VemRestoreError(
                f"{init}: holds {start.model_name} {start.model_params}, but the config asks "
                f"for {model.model_name} {model.model_params}"
            )
        model.load_state_dict(start.state_dict())
    return model


def _same_network(start: nn.Module, model: nn.Module) -> bool:
    """Whether ``start``'s weights are ``model``'s network: same name and the same tensors.
    Parameters that add no weights (the generalist's ``gaussian_blend``, an inference-time
    mix) may differ: fine-tuning takes the weights, the run's config the rest."""
    return start.model_name == model.model_name and same_layout(start, model)


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
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    L.seed_everything(config.seed, workers=True, verbose=False)
    volumes = _load_volumes(config)
    task = build_task(config, volumes)
    config = resolve_for_data(config, [v.shape for v in volumes], task.source_extent)
    if config.self_supervised is not None:
        volumes = [pad_to_window(volume, config.model.window) for volume in volumes]
    assert config.patch_size is not None, "resolve_for_data chooses the patch size"
    extent = task.source_extent(config.model.window, config.patch_size)
    sources = split_regions(volumes, extent, config.validation.axis, config.validation.fraction)
    data = PatchDataModule(sources, task, config)
    model = _build_model(config, init)
    assert config.loss is not None, "_fit takes resolved configs"
    module = RestorationModule(model, task, config.loss, config.optimizer)
    metadata = {
        "task": task.name,
        "config": config.model_dump(mode="json"),
        "vemrestore_version": __version__,
        # A generalist draws contrast and polarity per patch: no input range to warn about.
        "input_spread": (
            None if isinstance(task, SyntheticNoiseTask) else list(_input_spread(volumes))
        ),
    }
    outputs = RunOutputs(run_dir, config.data.normalization, metadata, on_epoch)
    run_dir.mkdir(parents=True, exist_ok=True)  # the inputs checked out
    save_training_config(config, run_dir / CONFIG_FILE)
    max_time = parse_duration(config.max_time) if config.max_time else None
    progress_bar = (
        [budget_progress(config.epochs, config.steps, config.steps_per_epoch, max_time)]
        if progress
        else []
    )
    board = TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False)
    with quiet_lightning():
        trainer = L.Trainer(
            max_epochs=config.epochs if config.epochs is not None else -1,
            max_steps=config.steps if config.steps is not None else -1,
            max_time=max_time,
            accelerator=config.accelerator,
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=config.strategy,
            precision=_precision(config),
            use_distributed_sampler=False,
            logger=board,
            callbacks=[outputs, *progress_bar, *callbacks],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=min(50, config.steps_per_epoch),
            default_root_dir=run_dir,
        )
        trainer.fit(module, datamodule=data, ckpt_path=checkpoint, weights_only=True)
    # read back from the files: under ddp_spawn the loop ran in other processes
    best, last = run_dir / "best.pt", run_dir / "last.pt"
    final = load_checkpoint(last).metadata
    chosen = load_checkpoint(best).metadata
    logger.info("run %s: %d epochs, %d steps", run_dir, final["epoch"], final["step"])
    result = TrainResult(
        run_dir=run_dir,
        last=last,
        best=best,
        best_psnr=float(chosen.get("val_psnr", math.nan)),
        epochs=int(final["epoch"]),
        steps=int(final["step"]),
        input_psnr=float(chosen.get("input_psnr", math.nan)),
        validated=bool(chosen.get("validated", True)),
    )
    if init is not None and config.self_supervised is not None:
        result = _keep_better_of_start(result, init, volumes[0].volumes["noisy"], config)
    for warning in result.warnings:
        logger.warning(warning)
    return result


FINE_TUNED = "fine_tuned.pt"
"""Where a self-supervised run moves its best fine-tuned weights when it keeps its start."""


def _keep_better_of_start(
    result: TrainResult, init: PathLike, noisy: np.ndarray, config: TrainingConfig
) -> TrainResult:
    """Self-supervised runs from ``init``: best.pt becomes the starting model, or a mix of its
    weights with the fine-tuned ones, when SURE on the volume itself says so
    (``training.selection``; the fine-tuned weights then move to ``fine_tuned.pt``). Only
    where both restore alike otherwise: full-resolution inference, the same normalisation."""
    assert config.self_supervised is not None
    start = load_checkpoint(init)
    if (
        not config.self_supervised.keep_start
        or config.self_supervised.inference != "full"
        or start.normalization != config.data.normalization
        or not result.best.is_file()
    ):
        return result
    tuned = load_checkpoint(result.best)
    comparison = compare_with_start(start.model, tuned.model, noisy)
    if comparison is None:
        return result
    logger.info("%s: best.pt holds %s", comparison.describe(), comparison.kept())
    share = comparison.best_share
    if share < 1.0:
        os.replace(result.best, result.run_dir / FINE_TUNED)
        if share == 0.0:
            metadata = {**start.metadata, "kept_over_fine_tuning": asdict(comparison)}
            save_checkpoint(result.best, start.model, start.normalization, metadata)
        else:
            metadata = {**tuned.metadata, "mixed_with_start": asdict(comparison)}
            network = mixed(start.model, tuned.model, share)
            save_checkpoint(result.best, network, tuned.normalization, metadata)
    return replace(result, start_comparison=comparison)
