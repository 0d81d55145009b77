"""Restoring one block: the work a worker does, as plain functions (Dask is not needed here).

A worker reads the block's read region once (memory: that region in the input dtype), runs
the engine on the tiles of the *global* grid that touch the block's write region (so the
numbers are those of a whole-volume run), stores the result one chunk-deep slab at a time,
and only then writes the block's marker. The model and the input reader are cached per
process: a worker builds the model once, however many blocks it restores.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import cloudpickle
import numpy as np
import torch
from torch import nn

from vemrestore.config.inference import DEFAULT_BATCH_SIZE
from vemrestore.data.normalization import Normalizer
from vemrestore.geometry.blocks import Block
from vemrestore.geometry.tiling import TileGrid
from vemrestore.inference.engine import restore_slices
from vemrestore.inference.predictor import Predictor
from vemrestore.io import VolumeReader, open_volume
from vemrestore.io.zarr_output import BlockOutput
from vemrestore.model_io.checkpoint import Checkpoint
from vemrestore.version import __version__

PROCESS_BASELINE_BYTES = 600 * 2**20
"""Resident memory of a worker before its first block (Python, NumPy, PyTorch, Dask)."""


@dataclass(frozen=True)
class BlockJob:
    """What all blocks of one restoration share: picklable, absolute paths, no open handles.

    ``run_id`` is new for every job, so worker caches never serve one run's model or reader
    to the next (the same cluster may serve many runs). ``batch_size`` None: each worker
    sizes it for its device (``Predictor.batch_size``).
    """

    input_path: str
    array: str | None
    output_path: str
    grid: TileGrid
    normalizer: Normalizer
    batch_size: int | None
    input_dtype: str
    output_dtype: str
    device: str
    amp: bool | None
    model_digest: str
    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    channels_last: bool | None = None
    torch_compile: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


class _BlockInput(VolumeReader):
    """The input as the engine sees it for one block: its read region, read in one go."""

    def __init__(self, reader: VolumeReader, block: Block) -> None:
        self.name, self.spec, self.chunks = reader.name, reader.spec, reader.chunks
        self._block = block
        self._region = reader.read(*block.read_region)

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        return self._region[self._block.within_read(z, y, x)]


@dataclass
class _WorkerState:
    """Per-process caches and this worker's place among the workers on its machine."""

    rank_on_host: int = 0
    run_id: str | None = None
    predictor: Predictor | None = None
    batch_size: int = 1
    reader: VolumeReader | None = None


_STATE = _WorkerState()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or a job's share)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def configure_worker(rank_on_host: int, workers_on_host: int, threads: int | None = None) -> None:
    """Share the machine: cores split between its workers (or ``threads`` each), GPU
    ``rank % count`` for this one."""
    _STATE.rank_on_host = rank_on_host
    torch.set_num_threads(threads or max(1, available_cores() // workers_on_host))


def release_worker_state() -> None:
    """Close the cached reader and drop the cached model (after an in-process run)."""
    if _STATE.reader is not None:
        _STATE.reader.close()
    _STATE.run_id = _STATE.predictor = _STATE.reader = None


def restore_block(job: BlockJob, block: Block, model: Checkpoint | bytes) -> str:
    """Restore ``block`` into the output and mark it finished; returns the block id.

    ``model`` is the checkpoint itself (same process) or as ``cloudpickle`` bytes (shipped to
    worker processes; unpickled once per process).
    """
    if _STATE.run_id != job.run_id:
        release_worker_state()
        checkpoint = cloudpickle.loads(model) if isinstance(model, bytes) else model
        _STATE.predictor = Predictor(
            checkpoint.model,
            _worker_device(job.device),
            job.amp,
            amp_dtype=job.amp_dtype,
            channels_last=job.channels_last,
            torch_compile=job.torch_compile,
        )
        _STATE.batch_size = _STATE.predictor.batch_size(job.batch_size, job.grid.tile)
        _STATE.reader = open_volume(job.input_path, array=job.array)
        _STATE.run_id = job.run_id
    predictor, source = _STATE.predictor, _BlockInput(_STATE.reader, block)
    output = BlockOutput(job.output_path)
    slices = restore_slices(
        source,
        predictor,
        job.normalizer,
        job.grid,
        _STATE.batch_size,
        np.dtype(job.output_dtype),
        region=block.write_region,
    )
    output.write(block.write_region, slices)
    output.mark_finished(block.id)
    return block.id


def _worker_device(requested: str) -> str:
    """``auto``/``cuda`` become this worker's own GPU when there are GPUs: one GPU per worker."""
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{_STATE.rank_on_host % torch.cuda.device_count()}"
    return requested


def estimated_worker_bytes(job: BlockJob, block: Block, chunk_depth: int) -> int:
    """Upper estimate of a worker's peak memory while restoring ``block``.

    The read region in the input dtype, (tile depth + 1) float32 accumulator slices and
    tile depth slices waiting to be written (float32 on CPU), three z-rows (one being read,
    one queued, one being predicted) of padded raw input and of the normalised float32
    batches cut from it (tiles overlap, so they hold more voxels than the row), the batch in
    and out, and one output slab.
    """
    grid = job.grid
    (z0, z1), (y0, y1), (x0, x1) = block.write
    read_z, read_y, read_x = block.read_shape
    tile_voxels = grid.z.tile * grid.y.tile * grid.x.tile
    in_size, out_size = np.dtype(job.input_dtype).itemsize, np.dtype(job.output_dtype).itemsize
    plane, read_plane = (
        (y1 - y0) * (x1 - x0),
        (read_y + 2 * grid.y.tile) * (read_x + 2 * grid.x.tile),
    )
    tiles_per_row = math.prod(
        -(-(extent + axis.tile) // max(1, axis.tile - axis.overlap)) + 1
        for extent, axis in ((read_y, grid.y), (read_x, grid.x))
    )
    return (
        PROCESS_BASELINE_BYTES
        + read_z * read_y * read_x * in_size
        + (grid.z.tile + 1) * plane * 4
        + grid.z.tile * plane * max(out_size, 4)
        + 3 * (grid.z.tile * read_plane * in_size + tiles_per_row * tile_voxels * 4)
        + 3 * (job.batch_size or DEFAULT_BATCH_SIZE) * tile_voxels * 4
        + min(chunk_depth, z1 - z0) * plane * out_size
    )


def model_digest(model: nn.Module) -> str:
    """SHA-256 of a network's class, parameters and weights: equal digests, equal numbers."""
    digest = hashlib.sha256()
    identity = [
        type(model).__module__,
        type(model).__qualname__,
        getattr(model, "model_params", {}),
    ]
    digest.update(json.dumps(identity, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{data.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, read in 1 MiB pieces (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for piece in iter(lambda: file.read(2**20), b""):
            digest.update(piece)
    return digest.hexdigest()


def resume_settings(job: BlockJob, shape: tuple[int, int, int], chunks: tuple[int, ...]) -> dict:
    """Everything that changes the output's numbers or layout; a resumed run must match it."""
    axes = (job.grid.z, job.grid.y, job.grid.x)
    return {
        "model_sha256": job.model_digest,
        "input_shape": list(shape),
        "input_dtype": job.input_dtype,
        "output_dtype": job.output_dtype,
        "chunks": list(chunks),
        "tile": [axis.tile for axis in axes],
        "overlap": [axis.overlap for axis in axes],
        "normalization": [job.normalizer.low, job.normalizer.high],
        "device": job.device,
        "amp": job.amp,
    }


def provenance(
    job: BlockJob, checkpoint: Checkpoint, checkpoint_file: Path | None, block_shape: tuple
) -> dict[str, Any]:
    """How the output was made, stored in its attributes: model, checkpoint, parameters."""
    model = checkpoint.model
    axes = (job.grid.z, job.grid.y, job.grid.x)
    return {
        "vemrestore_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": job.input_path,
        "input_array": job.array,
        "model": {
            "name": getattr(model, "model_name", type(model).__name__),
            "params": getattr(model, "model_params", {}),
            "checkpoint": str(checkpoint_file) if checkpoint_file else None,
            "checkpoint_sha256": file_sha256(checkpoint_file) if checkpoint_file else None,
            "weights_sha256": job.model_digest,
        },
        "normalization": {
            **checkpoint.normalization.model_dump(),
            "low": job.normalizer.low,
            "high": job.normalizer.high,
        },
        "parameters": {
            "tile": [axis.tile for axis in axes],
            "overlap": [axis.overlap for axis in axes],
            "batch_size": job.batch_size,
            "device": job.device,
            "amp": job.amp,
            "amp_dtype": job.amp_dtype,
            "channels_last": job.channels_last,
            "torch_compile": job.torch_compile,
            "output_dtype": job.output_dtype,
            "block": list(block_shape),
        },
    }
