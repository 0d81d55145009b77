"""The documented Python entry points. They wire the layers together and hold no maths.

Typical use::

    import numpy as np
    import vemrestore

    restored = vemrestore.restore(noisy_volume, "model.pt")          # numpy in, numpy out
    vemrestore.restore_file("fast.tif", "restored.tif", "model.pt")  # any size, streamed
    vemrestore.api.restore_blocks("scan.zarr", "restored.zarr", "model.pt")  # Dask, resumable
    vemrestore.live.watch("acquisition/", "restored.zarr", "model.pt")  # while acquiring
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vemrestore.checkpoint import Checkpoint, as_checkpoint
from vemrestore.config import DistributedConfig, InferenceConfig, NormalizationConfig
from vemrestore.data.normalization import (
    fit_normalizer,
    intensity_spread,
    sample_intensities,
    spread_mismatch,
)
from vemrestore.errors import VemRestoreError
from vemrestore.geometry import TileGrid
from vemrestore.inference import Predictor, restore_slices
from vemrestore.inference.blocks import BlockJob, model_digest
from vemrestore.inference.distributed import BlockRunSummary, restore_in_blocks
from vemrestore.inference.key_slices import restore_key_slice_stream, trained_key_period
from vemrestore.inference.predictor import select_device
from vemrestore.io import (
    ArrayReader,
    VolumeReader,
    VolumeSpec,
    VoxelSize,
    check_not_input,
    check_output,
    describe,
    open_volume,
    output_format,
    write_volume,
)
from vemrestore.simulate.calibration import calibrate_single

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
ModelSource = nn.Module | Checkpoint | PathLike
ProgressCallback = Callable[[int, int], None]
"""Called as ``(slices done, slices in total)`` while a volume is restored."""


def restore(
    volume: np.ndarray,
    model: ModelSource,
    config: InferenceConfig | None = None,
    normalization: NormalizationConfig | None = None,
    progress: bool = False,
    *,
    trust_code: bool = False,
    on_slice: ProgressCallback | None = None,
) -> np.ndarray:
    """Restore a (Z, Y, X) or (Y, X) uint8/uint16/float32 array; returns the same shape.

    ``model`` is a checkpoint path, a loaded ``Checkpoint``, or a bare ``nn.Module`` following
    the model contract (then ``normalization`` defaults to the dtype range). The output dtype
    is the input's unless ``config.output_dtype == "float32"``. ``trust_code`` allows a
    TorchScript model file, which runs code when loaded (only for files you trust).
    ``on_slice(done, total)`` is called after each restored slice (an exception it raises
    stops the restoration).
    """
    reader = ArrayReader(np.asarray(volume))
    checkpoint = as_checkpoint(model, normalization, trust_code=trust_code)
    slices = _restore_reader(reader, checkpoint, config or InferenceConfig(), progress)
    restored = list(_reported(slices, reader.shape[0], on_slice))
    return np.stack(restored).reshape(np.shape(volume))


def restore_array_file(
    volume: Any,
    output_path: PathLike,
    model: ModelSource,
    config: InferenceConfig | None = None,
    *,
    voxel_size: tuple[float, float, float] | None = None,
    overwrite: bool = False,
    on_slice: ProgressCallback | None = None,
) -> Path:
    """Restore a (Z, Y, X) array-like of any size (numpy, dask, Zarr) into a file, out of core.

    Only the slices each step needs are read (``volume[z0:z1]``), so a lazily loaded volume
    larger than memory works. The output (``.tif``, ``.zarr`` or a folder) appears only when
    complete: an error, or an exception raised by ``on_slice(done, total)``, leaves nothing.
    """
    output_path = Path(output_path)
    check_output(output_path, overwrite)
    config = config or InferenceConfig()
    reader = ArrayReader(volume, voxel_size)
    spec = VolumeSpec(reader.shape, config.resolved_dtype(reader.dtype), voxel_size)
    slices = _restore_reader(reader, as_checkpoint(model, None), config, False)
    return write_volume(
        output_path, _reported(slices, reader.shape[0], on_slice), spec, overwrite=overwrite
    )


def _reported(
    slices: Iterator[np.ndarray], total: int, on_slice: ProgressCallback | None
) -> Iterator[np.ndarray]:
    for done, image in enumerate(slices, start=1):
        yield image
        if on_slice is not None:
            on_slice(done, total)


def restoration_summary(model: ModelSource, device: str = "auto") -> str:
    """One line naming the model and the device it will run on, e.g. ``supervised.pt
    (unet2p5d, window 1) on cpu, 2 threads``."""
    checkpoint = as_checkpoint(model)
    network = checkpoint.model
    name = Path(model).name if isinstance(model, (str, os.PathLike)) else "model"
    described = f"{getattr(network, 'model_name', type(network).__name__)}, window "
    described += str(getattr(network, "window", "?"))
    target = select_device(device)
    threads = torch.get_num_threads()
    where = f"cpu, {threads} thread{'s' * (threads > 1)}" if target.type == "cpu" else target
    return f"{name} ({described}) on {where}"


def restore_file(
    input_path: PathLike,
    output_path: PathLike,
    model: ModelSource,
    config: InferenceConfig | None = None,
    overwrite: bool = False,
    array: str | None = None,
    slice_suffix: str = ".tif",
    progress: bool = False,
    key_period: int | None = None,
    key_offset: int = 0,
    *,
    trust_code: bool = False,
    allow_gaps: bool = False,
    voxel_size: VoxelSize | None = None,
) -> Path:
    """Restore a volume file (TIFF, slice folder, Zarr/OME-Zarr) into ``output_path``.

    Reads and writes slice by slice, so memory does not grow with the volume. The output
    format follows ``output_path`` (``.tif``, ``.zarr``, or a folder); voxel size is kept.
    It appears only when complete: an error or Ctrl-C leaves nothing behind. With
    ``key_period`` the input is a key-slice acquisition (see ``restore_key_slices``). The
    output may not be, hold or lie inside the input, whatever ``overwrite`` says.
    ``allow_gaps`` reads a slice folder with gaps or duplicates in its numbering.
    ``voxel_size`` (z, y, x nm) replaces the input's in the output; a slice folder output
    keeps a slice folder input's file names.
    """
    output_path = Path(output_path)
    check_output(output_path, overwrite, inputs=(Path(input_path),))
    config = config or InferenceConfig()
    checkpoint = as_checkpoint(model, None, trust_code=trust_code)
    with open_volume(input_path, array=array, allow_gaps=allow_gaps) as reader:
        spec = reader.spec.restored_as(config.resolved_dtype(reader.dtype), voxel_size=voxel_size)
        if key_period is None:
            slices = _restore_reader(reader, checkpoint, config, progress)
        else:
            slices = restore_key_slice_stream(
                reader, checkpoint, key_period, key_offset, config, progress
            )
        return write_volume(
            output_path,
            slices,
            spec,
            overwrite=overwrite,
            slice_suffix=slice_suffix,
            inputs=(Path(input_path),),
        )


def restore_key_slices(
    volume: np.ndarray,
    model: ModelSource,
    period: int = 4,
    key_offset: int = 0,
    config: InferenceConfig | None = None,
    *,
    trust_code: bool = False,
) -> np.ndarray:
    """Restore a (Z, Y, X) key-slice acquisition; key slices are passed through unchanged.

    A slow key slice sits every ``period`` slices from ``key_offset``; ``model`` was trained
    in key-slice mode with the same period (window ``period + 1``). Returns the input's
    dtype, or float32 if ``config.output_dtype`` says so.
    """
    reader = ArrayReader(np.asarray(volume))
    checkpoint = as_checkpoint(model, trust_code=trust_code)
    slices = restore_key_slice_stream(reader, checkpoint, period, key_offset, config)
    return np.stack(list(slices))


def key_slice_period(model: ModelSource, *, trust_code: bool = False) -> int | None:
    """The key-slice period ``model`` was trained with, or None if not trained in that mode."""
    return trained_key_period(as_checkpoint(model, trust_code=trust_code))


def can_restore_in_blocks(
    input_path: PathLike, output_path: PathLike, array: str | None = None
) -> bool:
    """Whether ``restore_blocks`` applies: a ``.zarr`` output from a Zarr or uncompressed TIFF."""
    if output_format(output_path) != "zarr":
        return False
    with open_volume(input_path, array=array) as reader:
        return reader.block_readable


def restore_blocks(
    input_path: PathLike,
    output_path: PathLike,
    model: ModelSource,
    config: InferenceConfig | None = None,
    distributed: DistributedConfig | None = None,
    overwrite: bool = False,
    array: str | None = None,
    progress: bool = False,
    *,
    trust_code: bool = False,
    voxel_size: VoxelSize | None = None,
) -> BlockRunSummary:
    """Restore a Zarr or uncompressed TIFF volume of any size into an OME-Zarr, in blocks on Dask.

    Memory per worker is bounded by the block size, not the volume. Finished blocks are
    recorded in the output: after a crash or Ctrl-C the same call resumes, and the result is
    bit-identical to an uninterrupted run. The output's attributes carry the provenance (model,
    checkpoint hash, vemrestore version, parameters) and an ``incomplete`` flag until done.
    """
    if output_format(output_path) != "zarr":
        raise VemRestoreError(f"{output_path}: block-wise restoration writes .zarr outputs only")
    check_not_input(Path(output_path), [Path(input_path)])
    config = config or InferenceConfig()
    checkpoint = as_checkpoint(model, None, trust_code=trust_code)
    checkpoint_file = None if isinstance(model, (nn.Module, Checkpoint)) else Path(model).absolute()
    with open_volume(input_path, array=array) as reader:
        if not reader.block_readable:
            raise VemRestoreError(
                f"{input_path}: block-wise restoration needs a Zarr store or an uncompressed "
                "TIFF (regions readable on their own)"
            )
        dtype = config.resolved_dtype(reader.dtype)
        job = BlockJob(
            input_path=str(Path(input_path).absolute()),
            array=array,
            output_path=str(Path(output_path).absolute()),
            grid=plan_grid(reader, checkpoint, config),
            normalizer=fit_normalizer(checkpoint.normalization, reader),
            batch_size=config.batch_size,
            input_dtype=str(reader.dtype),
            output_dtype=str(dtype),
            device=config.device,
            amp=config.amp,
            amp_dtype=config.amp_dtype,
            channels_last=config.channels_last,
            torch_compile=config.torch_compile,
            model_digest=model_digest(checkpoint.model),
        )
        spec = reader.spec.restored_as(dtype, voxel_size=voxel_size)
    return restore_in_blocks(
        job,
        checkpoint,
        spec,
        distributed or DistributedConfig(),
        overwrite=overwrite,
        progress=progress,
        checkpoint_file=checkpoint_file,
    )


@dataclass(frozen=True)
class NoiseCheck:
    """The input's estimated noise beside the range a model was trained on.

    ``electrons``: estimated electrons per pixel at white (shot noise, the family's unit;
    fewer = noisier); ``x_correlation``: lag-1 correlation of the noise along x (detector lag);
    ``trained``: the model's (low, high) electrons, or None when the model does not record
    one; ``inside``: whether the estimate lies in that range (True when unknown).
    """

    electrons: float
    x_correlation: float
    trained: tuple[float, float] | None
    inside: bool

    def message(self) -> str:
        text = (
            f"input noise: about {self.electrons:.3g} electrons per pixel at white, "
            f"x-correlation {self.x_correlation:.2f}"
        )
        if self.trained is None:
            return text
        low, high = self.trained
        if self.inside:
            return f"{text} (model trained on {low:g}-{high:g})"
        if self.electrons < low:
            remedy = (
                "noisier than anything the model was trained on: expect residual noise; "
                "fine-tune on this volume with `vemrestore train self-supervised --noisy INPUT`"
            )
        else:
            remedy = (
                "cleaner than anything the model was trained on: it may remove fine detail; "
                "compare with the input, or fine-tune with `vemrestore train self-supervised`"
            )
        return f"warning: {text}, outside the model's training range {low:g}-{high:g}: {remedy}"


_NOISE_SAMPLE_SLICES = 4
_NOISE_SAMPLE_SIZE = 512


def check_noise(
    input_path: PathLike,
    model: ModelSource,
    *,
    array: str | None = None,
    trust_code: bool = False,
    allow_gaps: bool = False,
) -> NoiseCheck | None:
    """Estimate the input's noise (Poisson-Gaussian calibration on up to 4 central 512×512
    crops, normalised as the model will see them) and compare it with the model's training
    range. None when no signal-dependent noise can be measured (e.g. a clean scan)."""
    checkpoint = as_checkpoint(model, None, trust_code=trust_code)
    with open_volume(input_path, array=array, allow_gaps=allow_gaps) as reader:
        normalizer = fit_normalizer(checkpoint.normalization, reader)
        depth, height, width = reader.shape
        y0, x0 = (
            max(0, (height - _NOISE_SAMPLE_SIZE) // 2),
            max(0, (width - _NOISE_SAMPLE_SIZE) // 2),
        )
        region = (slice(y0, y0 + _NOISE_SAMPLE_SIZE), slice(x0, x0 + _NOISE_SAMPLE_SIZE))
        planes = np.unique(np.linspace(0, depth - 1, min(depth, _NOISE_SAMPLE_SLICES)).astype(int))
        sample = np.stack([reader.read(slice(z, z + 1))[0][region] for z in planes])
    try:
        fit = calibrate_single(normalizer.normalize(sample))
    except VemRestoreError:
        return None
    electrons = fit.profile.electrons_per_unit
    trained = _trained_noise_range(checkpoint)
    inside = trained is None or trained[0] <= electrons <= trained[1]
    return NoiseCheck(electrons, fit.x_correlation, trained, inside)


def _trained_noise_range(checkpoint: Checkpoint) -> tuple[float, float] | None:
    """(low, high) electrons at white of a synthetic-noise (generalist) model, else None."""
    synthetic = checkpoint.metadata.get("config", {}).get("synthetic") or {}
    electrons = synthetic.get("family", {}).get("electrons")
    return (float(electrons[0]), float(electrons[1])) if electrons else None


def open_lazily(path: PathLike, array: str | None = None) -> tuple[Any, VoxelSize | None]:
    """A volume file (TIFF, Zarr, slice folder) as a lazy (Z, Y, X) dask array, read slice by
    slice on demand, and its voxel size (z, y, x) in nm (None when unknown)."""
    from vemrestore.io.lazy import lazy_array

    reader = open_volume(path, array=array)
    return lazy_array(reader), reader.spec.voxel_size


def volume_info(
    path: PathLike, array: str | None = None, *, allow_gaps: bool = False
) -> dict[str, Any]:
    """Shape, dtype, voxel size, chunking, format and value range of a volume file."""
    with open_volume(path, array=array, allow_gaps=allow_gaps) as reader:
        return describe(reader)


def _restore_reader(
    reader: VolumeReader,
    checkpoint: Checkpoint,
    config: InferenceConfig,
    progress: bool,
):
    grid = plan_grid(reader, checkpoint, config)
    normalizer = fit_normalizer(checkpoint.normalization, reader)
    trained = checkpoint.metadata.get("input_spread")
    if trained is not None:
        found = intensity_spread(normalizer.normalize(sample_intensities(reader)))
        mismatch = spread_mismatch(tuple(trained), found)
        if mismatch is not None:
            logger.warning("%s: %s", reader.name, mismatch)
    predictor = Predictor.from_config(checkpoint.model, config)
    return restore_slices(
        reader,
        predictor,
        normalizer,
        grid,
        predictor.batch_size(config.batch_size, grid.tile),
        config.resolved_dtype(reader.dtype),
        progress,
    )


def plan_grid(reader: VolumeReader, checkpoint: Checkpoint, config: InferenceConfig) -> TileGrid:
    """The tile grid ``config`` asks for over ``reader``'s volume, checked against the model."""
    window = int(getattr(checkpoint.model, "window", 1))
    try:
        tile, overlap = config.resolved_tiling(window, reader.shape)
    except ValueError as error:
        raise VemRestoreError(f"tiling: {error}") from None
    if tile[0] != window and not getattr(checkpoint.model, "accepts_any_window", False):
        raise VemRestoreError(
            f"tiling: this model restores windows of exactly {window} slices; "
            f"use a tile depth of {window} (got {tile[0]})"
        )
    return TileGrid.plan(reader.shape, tile, overlap)
