"""Restoration entry points: numpy arrays, files of any size, key slices, sub-lattices, Dask
blocks; the noise check and volume facts the command line shows. They wire ``model_io``,
``inference.plan`` and the engine together and hold no maths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemrestore.config import DistributedConfig, InferenceConfig, NormalizationConfig
from vemrestore.data.normalization import fit_normalizer
from vemrestore.errors import VemRestoreError
from vemrestore.inference.blocks import BlockJob, model_digest
from vemrestore.inference.distributed import BlockRunSummary, restore_in_blocks
from vemrestore.inference.engine import gather_slices
from vemrestore.inference.key_slices import restore_key_slice_stream
from vemrestore.inference.modes import restore_planned
from vemrestore.inference.modes import restore_sublattices as restore_sublattice_stream
from vemrestore.inference.plan import RestorationPlan, plan_restoration, tile_grid
from vemrestore.inference.predictor import select_device
from vemrestore.io import (
    ArrayReader,
    VolumeSpec,
    VoxelSize,
    check_not_input,
    check_output,
    describe,
    open_volume,
    output_format,
    write_volume,
)
from vemrestore.model_io.checkpoint import Checkpoint
from vemrestore.model_io.files import ModelSource, as_checkpoint
from vemrestore.simulate.calibration import calibrate_single
from vemrestore.types import PathLike

ProgressCallback = Callable[[int, int], None]
"""Called as ``(slices done, slices in total)`` while a volume is restored."""


def restore(
    volume: np.ndarray,
    model: ModelSource,
    *,
    config: InferenceConfig | None = None,
    normalization: NormalizationConfig | None = None,
    progress: bool = False,
    trust_code: bool = False,
    on_slice: ProgressCallback | None = None,
) -> np.ndarray:
    """Restore a (Z, Y, X) or (Y, X) uint8/uint16/float32 array; returns the same shape.

    ``model`` is a checkpoint path, a loaded ``Checkpoint``, or a bare ``nn.Module`` following
    the model contract (then ``normalization`` defaults to the dtype range). The output dtype
    is the input's unless ``config.output_dtype == "float32"``. ``trust_code`` allows a
    TorchScript model file, which runs code when loaded (only for files you trust).
    ``on_slice(done, total)`` is called after each restored slice (an exception it raises
    stops the restoration). The model restores as ``vemrestore denoise`` would (``plan_file``):
    a key-slice model takes ``volume`` for a key-slice acquisition with its trained period.
    """
    reader = ArrayReader(np.asarray(volume))
    checkpoint = as_checkpoint(model, normalization, trust_code=trust_code)
    plan = plan_file(checkpoint)
    slices = restore_planned(
        plan, reader, checkpoint, config or InferenceConfig(), progress=progress
    )
    restored = gather_slices(_reported(slices, reader.shape[0], on_slice), reader.shape[0])
    return restored.reshape(np.shape(volume))


def restore_array_file(
    volume: Any,
    output_path: PathLike,
    model: ModelSource,
    *,
    config: InferenceConfig | None = None,
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
    checkpoint = as_checkpoint(model, None)
    slices = restore_planned(plan_file(checkpoint), reader, checkpoint, config)
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
    name = checkpoint.source.name if checkpoint.source is not None else "model"
    described = f"{getattr(network, 'model_name', type(network).__name__)}, window "
    described += str(checkpoint.restoration.window)
    target = select_device(device)
    threads = torch.get_num_threads()
    where = f"cpu, {threads} thread{'s' * (threads > 1)}" if target.type == "cpu" else target
    return f"{name} ({described}) on {where}"


def restore_file(
    input_path: PathLike,
    output_path: PathLike,
    model: ModelSource,
    *,
    config: InferenceConfig | None = None,
    overwrite: bool = False,
    array: str | None = None,
    slice_suffix: str = ".tif",
    progress: bool = False,
    key_period: int | None = None,
    key_offset: int = 0,
    sublattice: bool | None = None,
    trust_code: bool = False,
    allow_gaps: bool = False,
    voxel_size: VoxelSize | None = None,
) -> Path:
    """Restore a volume file (TIFF, slice folder, Zarr/OME-Zarr) into ``output_path``.

    Restores as the model was trained to (``plan_file``): a key-slice model restores a
    key-slice acquisition with its period (``key_period`` overrides it; key slices are passed
    through, see ``restore_key_slices``), a self-supervised model asking for it restores
    sub-lattices (``sublattice`` True/False forces either way). Reads and writes slice by
    slice (sub-lattices: the whole volume in memory). The output format follows
    ``output_path`` (``.tif``, ``.zarr``, or a folder); voxel size is kept. It appears only
    when complete: an error or Ctrl-C leaves nothing behind. The output may not be, hold or
    lie inside the input, whatever ``overwrite`` says. ``allow_gaps`` reads a slice folder
    with gaps or duplicates in its numbering. ``voxel_size`` (z, y, x nm) replaces the
    input's in the output; a slice folder output keeps a slice folder input's file names.
    """
    output_path = Path(output_path)
    check_output(output_path, overwrite, inputs=(Path(input_path),))
    config = config or InferenceConfig()
    checkpoint = as_checkpoint(model, None, trust_code=trust_code)
    plan = plan_file(
        checkpoint, sublattice=sublattice, key_period=key_period, key_offset=key_offset
    )
    with open_volume(input_path, array=array, allow_gaps=allow_gaps) as reader:
        spec = reader.spec.restored_as(config.resolved_dtype(reader.dtype), voxel_size=voxel_size)
        slices = restore_planned(plan, reader, checkpoint, config, progress=progress)
        return write_volume(
            output_path,
            slices,
            spec,
            overwrite=overwrite,
            slice_suffix=slice_suffix,
            inputs=(Path(input_path),),
        )


def plan_file(
    checkpoint: Checkpoint,
    *,
    sublattice: bool | None = None,
    key_period: int | None = None,
    key_offset: int = 0,
    blocks_between: tuple[PathLike, PathLike] | None = None,
    array: str | None = None,
    block_settings: bool = False,
) -> RestorationPlan:
    """How ``restore_file`` (or, for a ``blocks`` plan, ``restore_blocks``) restores a volume
    with ``checkpoint``; see ``vemrestore.inference.plan``.

    ``blocks_between``: (input, output) to restore block-wise on Dask where they allow it
    (``can_restore_in_blocks``), as ``vemrestore denoise`` does; None: in one process.
    ``block_settings``: block-run settings were given (refused where no block run happens).
    """
    blocks_possible = None
    if blocks_between is not None:
        source, target = blocks_between

        def blocks_possible() -> bool:
            return can_restore_in_blocks(source, target, array=array)

    return plan_restoration(
        checkpoint.restoration,
        sublattice=sublattice,
        key_period=key_period,
        key_offset=key_offset,
        blocks_possible=blocks_possible,
        block_settings=block_settings,
    )


def restore_key_slices(
    volume: np.ndarray,
    model: ModelSource,
    *,
    period: int = 4,
    key_offset: int = 0,
    config: InferenceConfig | None = None,
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
    return gather_slices(slices, reader.shape[0])


def restore_sublattices(
    volume: np.ndarray,
    model: ModelSource,
    *,
    config: InferenceConfig | None = None,
    trust_code: bool = False,
) -> np.ndarray:
    """Restore a (Z, Y, X) or (Y, X) array as its four 2×2 sub-lattices at half resolution,
    re-interleaved (how a self-supervised model may ask to be applied; see
    ``vemrestore.inference.modes``). Returns its shape and dtype (float32 if
    ``config.output_dtype`` says so)."""
    reader = ArrayReader(np.asarray(volume))
    checkpoint = as_checkpoint(model, trust_code=trust_code)
    slices = restore_sublattice_stream(reader, checkpoint, config or InferenceConfig())
    return gather_slices(slices, reader.shape[0]).reshape(np.shape(volume))


def can_restore_in_blocks(
    input_path: PathLike, output_path: PathLike, *, array: str | None = None
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
    *,
    config: InferenceConfig | None = None,
    distributed: DistributedConfig | None = None,
    overwrite: bool = False,
    array: str | None = None,
    progress: bool = False,
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
    checkpoint_file = None if checkpoint.source is None else checkpoint.source.absolute()
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
            grid=tile_grid(reader.shape, checkpoint.restoration, config),
            normalizer=fit_normalizer(checkpoint.restoration.normalization, reader),
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
        normalizer = fit_normalizer(checkpoint.restoration.normalization, reader)
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
    trained = checkpoint.restoration.trained_electrons
    inside = trained is None or trained[0] <= electrons <= trained[1]
    return NoiseCheck(electrons, fit.x_correlation, trained, inside)


def open_lazily(path: PathLike, *, array: str | None = None) -> tuple[Any, VoxelSize | None]:
    """A volume file (TIFF, Zarr, slice folder) as a lazy (Z, Y, X) dask array, read slice by
    slice on demand, and its voxel size (z, y, x) in nm (None when unknown)."""
    from vemrestore.io.lazy import lazy_array

    reader = open_volume(path, array=array)
    return lazy_array(reader), reader.spec.voxel_size


def volume_info(
    path: PathLike, *, array: str | None = None, allow_gaps: bool = False
) -> dict[str, Any]:
    """Shape, dtype, voxel size, chunking, format and value range of a volume file."""
    with open_volume(path, array=array, allow_gaps=allow_gaps) as reader:
        return describe(reader)
