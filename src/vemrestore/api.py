"""The documented Python entry points. They wire the layers together and hold no maths.

Typical use::

    import numpy as np
    import vemrestore

    restored = vemrestore.restore(noisy_volume, "model.pt")          # numpy in, numpy out
    vemrestore.restore_file("fast.tif", "restored.tif", "model.pt")  # any size, streamed
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vemrestore.checkpoint import Checkpoint, load_checkpoint
from vemrestore.config import InferenceConfig, NormalizationConfig
from vemrestore.data.normalization import fit_normalizer
from vemrestore.errors import VemRestoreError
from vemrestore.geometry import TileGrid
from vemrestore.inference import Predictor, restore_slices
from vemrestore.io import (
    ArrayReader,
    VolumeReader,
    VolumeSpec,
    describe,
    open_volume,
    output_format,
    write_volume,
)
from vemrestore.io.atomic import check_output_path

PathLike = str | os.PathLike[str]
ModelSource = nn.Module | Checkpoint | PathLike


def restore(
    volume: np.ndarray,
    model: ModelSource,
    config: InferenceConfig | None = None,
    normalization: NormalizationConfig | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Restore a (Z, Y, X) or (Y, X) uint8/uint16/float32 array; returns the same shape.

    ``model`` is a checkpoint path, a loaded ``Checkpoint``, or a bare ``nn.Module`` following
    the model contract (then ``normalization`` defaults to the dtype range). The output dtype
    is the input's unless ``config.output_dtype == "float32"``.
    """
    reader = ArrayReader(np.asarray(volume))
    slices = list(
        _restore_reader(reader, model, config or InferenceConfig(), normalization, progress)
    )
    return np.stack(slices).reshape(np.shape(volume))


def restore_file(
    input_path: PathLike,
    output_path: PathLike,
    model: ModelSource,
    config: InferenceConfig | None = None,
    overwrite: bool = False,
    array: str | None = None,
    slice_suffix: str = ".tif",
    progress: bool = False,
) -> Path:
    """Restore a volume file (TIFF, slice folder, Zarr/OME-Zarr) into ``output_path``.

    Reads and writes slice by slice, so memory does not grow with the volume. The output
    format follows ``output_path`` (``.tif``, ``.zarr``, or a folder); voxel size is kept.
    It appears only when complete: an error or Ctrl-C leaves nothing behind.
    """
    output_path = Path(output_path)
    output_format(output_path)
    check_output_path(output_path, overwrite)
    config = config or InferenceConfig()
    checkpoint = _as_checkpoint(model, None)
    with open_volume(input_path, array=array) as reader:
        spec = VolumeSpec(reader.shape, _output_dtype(reader, config), reader.spec.voxel_size)
        slices = _restore_reader(reader, checkpoint, config, None, progress)
        return write_volume(
            output_path, slices, spec, overwrite=overwrite, slice_suffix=slice_suffix
        )


def volume_info(path: PathLike, array: str | None = None) -> dict[str, Any]:
    """Shape, dtype, voxel size, chunking, format and value range of a volume file."""
    with open_volume(path, array=array) as reader:
        return describe(reader)


def _restore_reader(
    reader: VolumeReader,
    model: ModelSource,
    config: InferenceConfig,
    normalization: NormalizationConfig | None,
    progress: bool,
):
    checkpoint = _as_checkpoint(model, normalization)
    window = int(getattr(checkpoint.model, "window", 1))
    try:
        tile, overlap = config.resolved_tiling(window)
    except ValueError as error:
        raise VemRestoreError(f"tiling: {error}") from None
    grid = TileGrid.plan(reader.shape, tile, overlap)
    normalizer = fit_normalizer(checkpoint.normalization, reader)
    predictor = Predictor(checkpoint.model, config.device, config.amp)
    return restore_slices(
        reader,
        predictor,
        normalizer,
        grid,
        config.batch_size,
        _output_dtype(reader, config),
        progress,
    )


def _as_checkpoint(model: ModelSource, normalization: NormalizationConfig | None) -> Checkpoint:
    if isinstance(model, Checkpoint):
        return model
    if isinstance(model, nn.Module):
        return Checkpoint(model, normalization or NormalizationConfig())
    return load_checkpoint(model)


def _output_dtype(reader: VolumeReader, config: InferenceConfig) -> np.dtype:
    return np.dtype(np.float32) if config.output_dtype == "float32" else reader.dtype
