"""Training configs as text: the YAML file, ``--set section.key=value`` overrides and the
commented default YAML that ``vemrestore config init`` writes.

The schema is ``config.training``; this module only reads, edits and writes its tree. The
resolved config is saved as YAML in every run folder, so a run can be repeated or resumed from
its folder alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vemrestore.config.training import TrainingConfig
from vemrestore.errors import VemRestoreError

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
