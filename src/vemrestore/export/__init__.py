"""Export a checkpoint as a bioimage.io package, a TorchScript file or an ONNX file.

Every export is checked against the eager model on a stored test tile before it appears
(written to a temporary name, renamed only when the check passes). The exporter libraries
(``onnx``, ``onnxscript``, ``onnxruntime``, ``bioimageio.spec``/``bioimageio.core``) are the
optional ``export`` extra and are imported only when an export needs them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

from torch import nn

from vemrestore.checkpoint import Checkpoint, as_checkpoint
from vemrestore.errors import VemRestoreError
from vemrestore.export.common import (
    SUPPORTED_DTYPES,
    TEST_TILE_SIZE,
    make_test_tile,
    model_window,
    size_multiple,
)
from vemrestore.io.atomic import check_output_path

logger = logging.getLogger(__name__)

ExportFormat = Literal["bioimageio", "torchscript", "onnx"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
SUFFIXES: dict[str, str] = {
    "bioimageio": ".zip",
    "torchscript": ".torchscript.pt",
    "onnx": ".onnx",
}

__all__ = ["FORMATS", "SUFFIXES", "ExportFormat", "default_output_path", "export_model"]


def default_output_path(checkpoint_path: str | os.PathLike[str], format: str) -> Path:
    """``run/best.pt`` → ``run/best.zip`` / ``run/best.torchscript.pt`` / ``run/best.onnx``."""
    path = Path(checkpoint_path)
    return path.with_name(path.stem + SUFFIXES[_check_format(format)])


def export_model(
    checkpoint: Checkpoint | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
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
    ``vemrestore.checkpoint.load_checkpoint``).
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
        from vemrestore.export.torchscript import export_torchscript

        return export_torchscript(loaded, out_path, raw_tile, overwrite)
    if format == "onnx":
        from vemrestore.export.onnx import export_onnx

        return export_onnx(loaded, out_path, raw_tile, overwrite)
    from vemrestore.export.bioimageio import export_bioimageio

    return export_bioimageio(loaded, out_path, raw_tile, overwrite, authors)


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise VemRestoreError(f"export format {format!r}: expected one of {', '.join(FORMATS)}")
    return format
