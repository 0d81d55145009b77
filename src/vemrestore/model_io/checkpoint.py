"""Self-describing model files: everything needed to rebuild and run a model, and no code.

A checkpoint is a ``torch.save``'d dict of plain values and tensors, loaded with
``weights_only=True`` so opening a file from someone else cannot execute code. (TorchScript
exports can; they load only with ``trust_code=True``.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import torch
from torch import nn

from vemrestore.config import NormalizationConfig
from vemrestore.config.restoration import RestorationSpec, TaskName
from vemrestore.errors import VemRestoreError
from vemrestore.models import create_model
from vemrestore.types import PathLike
from vemrestore.version import __version__

CHECKPOINT_FORMAT = "vemrestore-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A model ready for inference, with the normalisation it was trained with.

    ``recorded``: the restoration record read from the file (None for files written before
    it existed, and for bare modules: ``restoration`` derives it then); ``source``: the file
    it was loaded from, for provenance and messages.
    """

    model: nn.Module
    normalization: NormalizationConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    recorded: RestorationSpec | None = None
    source: Path | None = None

    @property
    def restoration(self) -> RestorationSpec:
        """How this model restores: the one place inference asks (see ``RestorationSpec``)."""
        if self.recorded is not None:
            return self.recorded
        return describe_restoration(self.model, self.normalization, self.metadata)


def describe_restoration(
    model: nn.Module, normalization: NormalizationConfig, metadata: dict[str, Any]
) -> RestorationSpec:
    """The restoration record of a model, derived from its training metadata.

    The only reader of the raw training config in ``metadata`` (checkpoints written before
    the record existed carry only that; the shipped models among them).
    """
    task = metadata.get("task")
    config = metadata.get("config") or {}
    key_slices = config.get("key_slices") or {}
    self_supervised = config.get("self_supervised") or {}
    electrons = ((config.get("synthetic") or {}).get("family") or {}).get("electrons")
    spread = metadata.get("input_spread")
    return RestorationSpec(
        task=task if task in get_args(TaskName) else None,
        window=int(getattr(model, "window", 1)),
        any_window=bool(getattr(model, "accepts_any_window", False)),
        key_period=key_slices.get("period") if task == "key_slices" else None,
        inference=self_supervised.get("inference", "full") if task == "self_supervised" else "full",
        normalization=normalization,
        trained_electrons=(float(electrons[0]), float(electrons[1])) if electrons else None,
        input_spread=(float(spread[0]), float(spread[1])) if spread is not None else None,
    )


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    normalization: NormalizationConfig,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` (built by ``create_model``) to ``path``, atomically.

    ``metadata`` holds plain values only (str, numbers, lists, dicts), e.g. training settings.
    The restoration record derived from them is written beside, so readers need not parse
    the training config.
    """
    if not hasattr(model, "model_name"):
        raise ValueError("only models built with vemrestore.models.create_model can be saved")
    path = Path(path)
    restoration = describe_restoration(model, normalization, metadata or {})
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "vemrestore_version": __version__,
        "model_name": model.model_name,
        "model_params": model.model_params,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalization": normalization.model_dump(),
        "metadata": metadata or {},
        "restoration": restoration.model_dump(mode="json"),
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_native_checkpoint(path: PathLike) -> Checkpoint:
    """Rebuild the model saved at ``path`` by ``save_checkpoint``; refuse other files.

    Files of any type (exports, bioimage.io packages) load with
    ``vemrestore.model_io.files.load_model``.
    """
    path = Path(path)
    if not path.is_file():
        raise VemRestoreError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise VemRestoreError(
            f"{path}: not a vemrestore checkpoint (cannot be read safely: {type(error).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise VemRestoreError(f"{path}: not a vemrestore checkpoint (no vemrestore header)")
    if payload.get("format_version", 0) > CHECKPOINT_FORMAT_VERSION:
        raise VemRestoreError(
            f"{path}: checkpoint format {payload['format_version']} is newer than this "
            f"vemrestore ({__version__}) understands; upgrade vemrestore"
        )
    try:
        model = create_model(payload["model_name"], **payload["model_params"])
        model.load_state_dict(payload["state_dict"])
        normalization = NormalizationConfig(**payload["normalization"])
        recorded = payload.get("restoration")
        restoration = None if recorded is None else RestorationSpec(**recorded)
    except (KeyError, ValueError, RuntimeError, TypeError) as error:
        raise VemRestoreError(f"{path}: damaged vemrestore checkpoint ({error})") from None
    model.eval()
    metadata = dict(payload.get("metadata", {}))
    return Checkpoint(model, normalization, metadata, recorded=restoration, source=path)
