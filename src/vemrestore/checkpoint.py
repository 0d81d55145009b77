"""Self-describing model files: everything needed to rebuild and run a model, and no code.

A checkpoint is a ``torch.save``'d dict of plain values and tensors, loaded with
``weights_only=True`` so opening a file from someone else cannot execute code. (TorchScript
exports can; they load only with ``trust_code=True``.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vemrestore import __version__
from vemrestore.config import NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.models import create_model

CHECKPOINT_FORMAT = "vemrestore-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A model ready for inference, with the normalisation it was trained with."""

    model: nn.Module
    normalization: NormalizationConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    normalization: NormalizationConfig,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` (built by ``create_model``) to ``path``, atomically.

    ``metadata`` holds plain values only (str, numbers, lists, dicts), e.g. training settings.
    """
    if not hasattr(model, "model_name"):
        raise ValueError("only models built with vemrestore.models.create_model can be saved")
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "vemrestore_version": __version__,
        "model_name": model.model_name,
        "model_params": model.model_params,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalization": normalization.model_dump(),
        "metadata": metadata or {},
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike[str], *, trust_code: bool = False) -> Checkpoint:
    """Rebuild the model saved at ``path``; refuse files that are not vemrestore checkpoints.

    bioimage.io packages (``.zip``, ``rdf.yaml``) and vemrestore's TorchScript/ONNX exports
    load too, through ``vemrestore.export.load`` (imported only for them). TorchScript runs
    code from the file when loaded, so it is refused unless ``trust_code``.
    """
    path = Path(path)
    from vemrestore.export.load import is_exported_model, load_exported_model

    if is_exported_model(path):
        return load_exported_model(path, trust_code=trust_code)
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
    except (KeyError, ValueError, RuntimeError, TypeError) as error:
        raise VemRestoreError(f"{path}: damaged vemrestore checkpoint ({error})") from None
    model.eval()
    return Checkpoint(model, normalization, dict(payload.get("metadata", {})))


def as_checkpoint(
    model: nn.Module | Checkpoint | str | os.PathLike[str],
    normalization: NormalizationConfig | None = None,
    *,
    trust_code: bool = False,
) -> Checkpoint:
    """A checkpoint path, loaded ``Checkpoint`` or bare module → ``Checkpoint``.

    A bare module gets ``normalization`` (default: the dtype range), so API callers can pass
    any network that follows the model contract. ``trust_code``: see ``load_checkpoint``.
    """
    if isinstance(model, Checkpoint):
        return model
    if isinstance(model, nn.Module):
        return Checkpoint(model, normalization or NormalizationConfig())
    return load_checkpoint(model, trust_code=trust_code)
