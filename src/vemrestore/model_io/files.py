"""Model files of any kind: open a native checkpoint, bioimage.io package, TorchScript or ONNX
file; export a checkpoint to one of those formats.

Sits above ``checkpoint`` (the native format) and ``export`` (each format's writer and
reader), which import neither this module nor each other's callers: loading and exporting
share no import cycle. Every export is checked against the eager model on a stored test tile
before it appears (written to a temporary name, renamed only when the check passes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal, get_args

from torch import nn

from vemrestore.config import NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.io.atomic import check_output_path
from vemrestore.model_io.checkpoint import Checkpoint, load_native_checkpoint
from vemrestore.model_io.formats.common import (
    SUPPORTED_DTYPES,
    TEST_TILE_SIZE,
    make_test_tile,
    model_window,
    size_multiple,
)
from vemrestore.model_io.formats.load import is_exported_model, load_exported_model
from vemrestore.types import PathLike

logger = logging.getLogger(__name__)

ModelSource = nn.Module | Checkpoint | PathLike
"""What the API accepts as a model: a file, a loaded ``Checkpoint``, or a bare module."""


def load_checkpoint(path: PathLike, *, trust_code: bool = False) -> Checkpoint:
    """Rebuild the model saved at ``path``; refuse files that are not vemrestore models.

    bioimage.io packages (``.zip``, ``rdf.yaml``) and vemrestore's TorchScript/ONNX exports
    load too. TorchScript runs code from the file when loaded, so it is refused unless
    ``trust_code``.
    """
    path = Path(path)
    if is_exported_model(path):
        return replace(load_exported_model(path, trust_code=trust_code), source=path)
    return load_native_checkpoint(path)


def as_checkpoint(
    model: ModelSource,
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


ExportFormat = Literal["bioimageio", "torchscript", "onnx"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
SUFFIXES: dict[str, str] = {
    "bioimageio": ".zip",
    "torchscript": ".torchscript.pt",
    "onnx": ".onnx",
}


def default_output_path(checkpoint_path: PathLike, format: str) -> Path:
    """``run/best.pt`` → ``run/best.zip`` / ``run/best.torchscript.pt`` / ``run/best.onnx``."""
    path = Path(checkpoint_path)
    return path.with_name(path.stem + SUFFIXES[_check_format(format)])


def export_model(
    checkpoint: Checkpoint | PathLike,
    out_path: PathLike,
    format: ExportFormat,
    *,
    overwrite: bool = False,
    input_dtype: str = "uint8",
    authors: Sequence[str] = ("vemrestore user",),
    trust_code: bool = False,
) -> Path:
    """Write ``checkpoint`` to ``out_path`` in ``format``; returns the path written.

    ``input_dtype`` is the raw data type of the test tile (uint8, uint16 or float32); a
    bioimage.io package declares it as its input type, since its dtype-range preprocessing
    depends on it. ``authors`` name the people credited in a bioimage.io package.
    ``trust_code`` allows a TorchScript source, which runs code when loaded (see
    ``load_checkpoint``).
    """
    format = _check_format(format)
    if input_dtype not in SUPPORTED_DTYPES:
        raise VemRestoreError(
            f"input dtype {input_dtype!r}: expected one of {', '.join(SUPPORTED_DTYPES)}"
        )
    if isinstance(checkpoint, nn.Module):
        raise VemRestoreError("export needs a checkpoint (path or Checkpoint), not a bare module")
    loaded = as_checkpoint(checkpoint, trust_code=trust_code)
    loaded.model.eval()
    out_path = Path(out_path)
    if not isinstance(checkpoint, Checkpoint):
        check_output_path(out_path, overwrite, inputs=(Path(checkpoint),))
    multiple = size_multiple(loaded.model)
    tile_size = multiple * -(-TEST_TILE_SIZE // multiple)
    raw_tile = make_test_tile(model_window(loaded.model), tile_size, input_dtype)
    logger.info("exporting %s to %s (%s)", checkpoint, out_path, format)
    if format == "torchscript":
        from vemrestore.model_io.formats.torchscript import export_torchscript

        return export_torchscript(loaded, out_path, raw_tile, overwrite)
    if format == "onnx":
        from vemrestore.model_io.formats.onnx import export_onnx

        return export_onnx(loaded, out_path, raw_tile, overwrite)
    from vemrestore.model_io.formats.bioimageio import export_bioimageio

    return export_bioimageio(loaded, out_path, raw_tile, overwrite, authors)


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise VemRestoreError(f"export format {format!r}: expected one of {', '.join(FORMATS)}")
    return format
