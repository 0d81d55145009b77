"""Settings of a training run: what is learned, from which data, with what budget.

The schema only: pydantic sections with bounds and the cross-field checks. Reading, editing
(``--set``) and writing it as YAML is ``config.training_yaml``; the loss and duration grammars
are ``config.grammar``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vemrestore.config.grammar import parse_duration, parse_loss
from vemrestore.config.normalization import NormalizationConfig
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
    method: Literal["checkerboard", "recorrupted", "neighbor2neighbor", "blind_spot"] = (
        "checkerboard"
    )
    """``recorrupted``: full-resolution Recorrupted-to-Recorrupted pairs drawn from the noise
    model calibrated on the volume itself (``vemrestore.tasks.synthetic.RecorruptedTask``);
    ``neighbor2neighbor``: the checkerboard pair plus a consistency term against the
    full-resolution restoration, weighted by ``consistency``
    (``vemrestore.tasks.checkerboard.Neighbor2NeighborTask``); ``blind_spot``: hidden boxes
    sized to the noise correlation calibrated on the volume
    (``vemrestore.tasks.blind_spot.BlindSpotTask``)."""
    consistency: float = Field(1.0, ge=0.0, le=100.0)
    alpha: float = Field(0.5, gt=0.0, le=10.0)
    keep_start: bool = True
    """A run that starts from a model (the generalist by default) estimates both networks'
    error on the volume itself (SURE with the noise calibrated on it) and keeps the starting
    model in ``best.pt`` when fine-tuning made it worse (``vemrestore.training.selection``;
    a resumed run does not repeat the check)."""


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
