"""Settings of a training run: what is learned, from which data, with what budget.

The resolved config is saved as YAML in every run folder, so a run can be repeated or resumed
from its folder alone. ``--set section.key=value`` overrides edit the same tree.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vemrestore.config.normalization import NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.simulate.family import NoiseFamily

DEFAULT_WINDOW = 1
SELF_SUPERVISED_WINDOW = 1
"""Default windows: one slice, the shipped generalist's, so that supervised and self-supervised
runs fine-tune it by default (``vemrestore.training.run.train``); a 2D network also assumes
nothing about the z step and serves single images as well as volumes."""
DEFAULT_LOSS = "1*L1+1*SSIM"
SELF_SUPERVISED_LOSS = "1*MSE"
"""Against a noisy target only the mean squared error is minimised by the clean signal (the
noise averages out); SSIM would reward reproducing the target's noise variance."""
LOSS_TERMS = ("L1", "MSE", "HUBER", "SSIM")
_LOSS_TERM = re.compile(r"^\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?([A-Za-z0-9]+)\s*$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_loss(text: str) -> list[tuple[float, str]]:
    """``"1*L1+0.5*SSIM"`` → ``[(1.0, "L1"), (0.5, "SSIM")]``; names are case-insensitive."""
    terms = []
    for part in text.split("+"):
        match = _LOSS_TERM.match(part)
        if match is None:
            raise ValueError(f"loss term {part.strip()!r}: expected WEIGHT*NAME, e.g. 1*L1")
        weight = float(match.group(1) or 1.0)
        name = match.group(2).upper()
        if name not in LOSS_TERMS:
            raise ValueError(f"unknown loss {match.group(2)!r}; available: {', '.join(LOSS_TERMS)}")
        if weight <= 0:
            raise ValueError(f"loss weight of {name} must be > 0")
        terms.append((weight, name))
    return terms


def parse_duration(text: str) -> timedelta:
    """``"5m"``, ``"1h30m"``, ``"90s"``, ``"2d"`` → timedelta (must be > 0)."""
    match = _DURATION.match(text.strip().replace(" ", ""))
    if match is None or not any(match.groups()):
        raise ValueError(f"duration {text!r}: expected e.g. 90s, 5m, 1h30m, 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration.total_seconds() <= 0:
        raise ValueError(f"duration {text!r} must be > 0")
    return duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(_Strict):
    """Network from the registry and its constructor parameters (``window`` = patch depth D)."""

    name: str = "unet2p5d"
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def window(self) -> int:
        return int(self.params.get("window", DEFAULT_WINDOW))


class PairSection(_Strict):
    """One registered (fast, slow) volume pair of identical shape and dtype."""

    fast: str
    slow: str


class DataSection(_Strict):
    """Where the pairs come from and how intensities are mapped.

    ``pairs`` lists volume pairs explicitly; ``folder`` adds every pair found there (file
    names containing ``fast`` and ``slow`` with a shared stem). ``max_shift`` (px) is the
    largest phase-correlation shift between fast and slow slices accepted as registered.
    ``noisy`` lists single noisy volumes for self-supervised training (no slow scan);
    ``clean`` lists clean volumes that synthetic training degrades itself (the generalist).
    """

    pairs: list[PairSection] = Field(default_factory=list)
    noisy: list[str] = Field(default_factory=list)
    clean: list[str] = Field(default_factory=list)
    folder: str | None = None
    normalization: NormalizationConfig = NormalizationConfig()
    check_registration: bool = True
    max_shift: float = Field(1.0, gt=0.0, le=100.0)


class ValidationSection(_Strict):
    """The hold-out region: the last ``fraction`` of the volume along ``axis`` (at least one
    patch deep), never sampled for training; ``patches`` fixed validation patches per run.
    ``auto``: z when the volumes are deep enough, else an in-plane axis (chosen from the data,
    ``vemrestore.training.defaults``)."""

    axis: Literal["auto", "z", "y", "x"] = "auto"
    fraction: float = Field(0.1, gt=0.0, lt=0.5)
    patches: int = Field(16, ge=1, le=10000)


class KeySliceSection(_Strict):
    """S-F-F-F-S acquisition: a slow key slice every ``period`` slices, first at ``offset``."""

    period: int = Field(4, ge=2, le=64)
    offset: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _offset_in_period(self) -> KeySliceSection:
        if self.offset >= self.period:
            raise ValueError(f"offset ({self.offset}) must be below the period ({self.period})")
        return self


class SelfSupervisedSection(_Strict):
    """Checkerboard self-supervised training on ``data.noisy`` volumes (no slow scan).

    Before training every volume's noise is inspected (``vemrestore inspect noise``): slices
    whose noise level, brightness or contrast differ by more than ``noise_tolerance``
    (relative), or drift by more, are logged as a warning, or refused when ``strict``.
    ``normalize_drift`` gives every slice the median brightness and contrast first.
    ``inference`` is how ``vemrestore denoise`` applies the trained network: ``full`` runs
    it on the full-resolution volume, ``sublattice`` restores the four 2×2 sub-lattices at
    half resolution and re-interleaves them (benchmarks/RESULTS.md compares the two).
    """

    normalize_drift: bool = False
    strict: bool = False
    noise_tolerance: float = Field(0.25, gt=0.0, le=10.0)
    inference: Literal["full", "sublattice"] = "full"
    method: Literal["checkerboard", "recorrupted"] = "checkerboard"
    """``recorrupted``: full-resolution Recorrupted-to-Recorrupted pairs drawn from the noise
    model calibrated on the volume itself (``vemrestore.tasks.synthetic.RecorruptedTask``)."""
    alpha: float = Field(0.5, gt=0.0, le=10.0)


class SyntheticSection(_Strict):
    """Synthetic training on ``data.clean`` volumes: each patch is degraded by a fresh draw of
    the noise ``family`` (and varied in contrast, polarity and pixel size)."""

    family: NoiseFamily = NoiseFamily()


class OptimizerSection(_Strict):
    """Adam with reduce-on-plateau on validation PSNR."""

    lr: float = Field(2e-4, gt=0.0, le=1.0)
    betas: tuple[float, float] = (0.9, 0.99)
    plateau_factor: float = Field(0.5, gt=0.0, lt=1.0)
    plateau_patience: int = Field(10, ge=0)
    min_lr: float = Field(1e-6, ge=0.0)

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        return betas


class TrainingConfig(_Strict):
    """Everything a training run needs besides its output folder.

    The budget stops the run at whichever of ``epochs``, ``steps`` (optimizer steps) and
    ``max_time`` (e.g. ``"5m"``) is reached first; an epoch is ``steps_per_epoch`` batches of
    random patches, each followed by validation. ``precision`` ``auto`` = mixed float16 on
    GPU, float32 on CPU. ``strategy``/``devices``/``num_nodes`` are passed to Lightning
    (``ddp`` for multi-GPU or multi-node).
    """

    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    validation: ValidationSection = ValidationSection()
    key_slices: KeySliceSection | None = None
    self_supervised: SelfSupervisedSection | None = None
    synthetic: SyntheticSection | None = None
    patch_size: tuple[int, int] | None = None
    """In-plane patch (px); None: the largest up to 128 that the data allow."""
    augment: bool = True
    loss: str | None = None
    optimizer: OptimizerSection = OptimizerSection()
    epochs: int | None = Field(100, ge=1)
    steps: int | None = Field(None, ge=1)
    max_time: str | None = None
    steps_per_epoch: int = Field(200, ge=1)
    batch_size: int = Field(8, ge=1, le=4096)
    seed: int = Field(0, ge=0)
    workers: int = Field(0, ge=0, le=256)
    precision: Literal["auto", "32-true", "16-mixed", "bf16-mixed"] = "auto"
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int = Field(1, ge=1)
    num_nodes: int = Field(1, ge=1)
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> TrainingConfig:
        if self.loss is not None:
            terms = parse_loss(self.loss)
            if self.self_supervised is not None and any(n == "SSIM" for _, n in terms):
                raise ValueError(
                    f"loss {self.loss}: SSIM against a noisy self-supervised target rewards "
                    f"keeping the noise; use {SELF_SUPERVISED_LOSS} (the default) or L1"
                )
        if self.max_time is not None:
            parse_duration(self.max_time)
        if self.epochs is None and self.steps is None and self.max_time is None:
            raise ValueError("give a budget: epochs, steps or max_time")
        if self.patch_size is not None and min(self.patch_size) < 8:
            raise ValueError(f"patch_size must be >= 8 px, got {self.patch_size}")
        if self.key_slices is not None and self.model.window != self.key_slices.period + 1:
            raise ValueError(
                f"key-slice period {self.key_slices.period} needs model window "
                f"{self.key_slices.period + 1} (set model.params.window), got {self.model.window}"
            )
        if self.self_supervised is not None:
            if self.key_slices is not None:
                raise ValueError("self_supervised and key_slices training exclude each other")
            if self.data.pairs or self.data.folder is not None:
                raise ValueError("self_supervised training takes data.noisy volumes, not pairs")
        elif self.data.noisy:
            raise ValueError("data.noisy volumes need self_supervised training")
        if self.synthetic is not None:
            if self.self_supervised is not None or self.key_slices is not None:
                raise ValueError("synthetic training excludes self_supervised and key_slices")
            if self.data.pairs or self.data.folder is not None:
                raise ValueError("synthetic training takes data.clean volumes, not pairs")
        elif self.data.clean:
            raise ValueError("data.clean volumes need synthetic training")
        return self

    def resolved(self) -> TrainingConfig:
        """A copy with the task's defaults (model window, loss) written out, so the saved YAML
        says the patch depth and the loss."""
        supervised = self.self_supervised is None
        window = DEFAULT_WINDOW if supervised else SELF_SUPERVISED_WINDOW
        params = {"window": self.model.params.get("window", window), **self.model.params}
        loss = self.loss or (DEFAULT_LOSS if supervised else SELF_SUPERVISED_LOSS)
        model = ModelSection(name=self.model.name, params=params)
        return self.model_copy(update={"model": model, "loss": loss})


def with_key_slices(config: TrainingConfig, period: int, offset: int = 0) -> TrainingConfig:
    """``config`` switched to key-slice training with ``period`` (model window = period + 1)."""
    data = config.model_dump()
    data["key_slices"] = {"period": period, "offset": offset}
    data["model"]["params"]["window"] = period + 1
    return TrainingConfig(**data)


def with_self_supervised(
    config: TrainingConfig,
    noisy: list[str],
    strict: bool | None = None,
    normalize_drift: bool | None = None,
) -> TrainingConfig:
    """``config`` switched to self-supervised training on the ``noisy`` volumes (added to
    ``data.noisy``); ``strict``/``normalize_drift`` override the section's values if given."""
    data = config.model_dump()
    section = data.get("self_supervised") or {}
    if strict is not None:
        section["strict"] = strict
    if normalize_drift is not None:
        section["normalize_drift"] = normalize_drift
    data["self_supervised"] = section
    data["data"]["noisy"] = [*data["data"]["noisy"], *noisy]
    return TrainingConfig(**data)


MAX_CONFIG_BYTES = 1 << 20
"""A training config is a few KiB; a larger file is refused before it is parsed."""


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings to a config tree; values are parsed as YAML."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise VemRestoreError(f"--set {item}: expected key=value, e.g. batch_size=4")
        node = data
        *parents, leaf = key.strip().split(".")
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise VemRestoreError(f"--set {item}: {part} is not a section")
            node = child
        try:
            node[leaf] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            reason = " ".join(str(error).split())
            raise VemRestoreError(f"--set {item}: not a plain YAML value ({reason})") from None
    return data


def load_training_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> TrainingConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides``; errors name the file."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise VemRestoreError(f"{path}: config file not found")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise VemRestoreError(
                f"{path}: {path.stat().st_size / 2**20:.1f} MiB, over vemrestore's limit of "
                f"{MAX_CONFIG_BYTES // 2**20} MiB for a config file; not a training config?"
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise VemRestoreError(f"{path}: not a text file (a config is UTF-8 YAML)") from None
        except (yaml.YAMLError, RecursionError) as error:
            reason = " ".join(str(error).split())
            raise VemRestoreError(f"{path}: not valid YAML ({reason})") from None
        if not isinstance(data, dict):
            raise VemRestoreError(f"{path}: expected a mapping of config sections")
    data = apply_overrides(data, overrides or [])
    try:
        return TrainingConfig(**data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        source = f"{path}: " if path is not None else ""
        raise VemRestoreError(f"{source}invalid training config: {problems}") from None


def save_training_config(config: TrainingConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (read back by ``load_training_config``)."""
    Path(path).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


DEFAULT_CONFIG_YAML = """\
# vemrestore training config. Every key is optional; unknown keys are errors.
# Override any value on the command line: --set optimizer.lr=1e-4 --set batch_size=4
model:
  name: unet2p5d            # a registered network: unet2p5d, gshift, identity
  params: {}                # constructor parameters of that network, e.g. {window: 7}:
                            # window = patch depth D; default 1 (2D, the shipped
                            # generalist's), period + 1 (key slices)
data:
  pairs: []                 # [{fast: a_fast.tif, slow: a_slow.tif}, ...]; --fast/--slow add one
  folder: null              # or a folder of *fast*/*slow* files sharing a stem
  noisy: []                 # self-supervised: single noisy volumes; --noisy adds one
  normalization:
    mode: dtype             # dtype (divide by the dtype range) or percentile
  check_registration: true  # refuse pairs shifted by more than max_shift px
  max_shift: 1.0
validation:
  axis: auto                # hold out the last `fraction` of the volume along z, y or x
                            # (auto: z if the volumes are deep enough, else y or x)
  fraction: 0.1             # (at least one patch deep; never sampled for training)
  patches: 16               # fixed validation patches (chosen by seed)
key_slices: null            # {period: 4, offset: 0} trains the S-F-F-F-S key-slice mode
self_supervised: null       # {} trains checkerboard self-supervised on data.noisy, with keys:
                            #   normalize_drift: false  flatten per-slice brightness/contrast
                            #   strict: false           refuse volumes with non-uniform noise
                            #   noise_tolerance: 0.25   relative change flagged as non-uniform
                            #   inference: full         denoise mode: full or sublattice
patch_size: null            # in-plane patch size, e.g. [128, 128] (key slices and
                            # self-supervised read 2x this); null: the largest up to 128
                            # that fits the data
augment: true               # random flips in z, y, x and 90-degree rotations in xy
loss: null                  # weighted sum of L1, MSE, Huber, SSIM, e.g. 1*L1+1*SSIM (the
                            # default; self-supervised: 1*MSE, and SSIM is refused there)
optimizer:
  lr: 2.0e-4                # Adam
  betas: [0.9, 0.99]
  plateau_factor: 0.5       # reduce-on-plateau of validation PSNR
  plateau_patience: 10      # epochs without improvement before the lr is reduced
  min_lr: 1.0e-6
epochs: 100                 # budget: stops at the first of epochs, steps, max_time reached
steps: null                 # optimizer steps
max_time: null              # wall-clock, e.g. 5m, 1h30m
steps_per_epoch: 200        # batches per epoch (validation after each)
batch_size: 8
seed: 0
workers: 0                  # data-loader processes (each with its own seed)
precision: auto             # auto (16-mixed on GPU, 32-true on CPU), 32-true, 16-mixed, bf16-mixed
accelerator: auto           # auto, cpu, gpu
devices: 1                  # GPUs (or CPU processes) per node
num_nodes: 1
strategy: auto              # auto, ddp, ddp_spawn
"""
