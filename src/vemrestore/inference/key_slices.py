"""Restoration of a key-slice acquisition (slow key slices every ``period`` slices).

Windows of ``period + 1`` slices are placed so that key slices sit at their borders::

    z:       0  1  2  3  4  5  6  7  8  9
    keys:          K           K              (period 4, key offset 2)
    windows: [0 ......... 4]                  leading slices: window at the volume start
                   [2 ......... 6]            key-aligned window (its prediction wins)
                            [5 ......... 9]   trailing slices: window at the volume end

The interior slices of each window come from the network; key slices are copied from the
input unchanged. Slices outside the first and last key are restored from a window aligned to
the volume edge (they have a key slice on one side only). Each window is tiled in-plane and
blended like ``vemrestore.restore``; one window is held in memory at a time, so files of any
depth stream through. File-level entry points are in ``vemrestore.api``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from tqdm.auto import tqdm

from vemrestore.config import InferenceConfig
from vemrestore.data.normalization import fit_normalizer
from vemrestore.errors import VemRestoreError
from vemrestore.geometry import TileGrid
from vemrestore.inference.engine import restore_slices
from vemrestore.inference.plan import key_window_tiling
from vemrestore.inference.predictor import Predictor
from vemrestore.io import ArrayReader, VolumeReader
from vemrestore.model_io.checkpoint import Checkpoint
from vemrestore.tasks.key_slices import key_positions

_KEY = -1


def key_slice_windows(depth: int, period: int, key_offset: int = 0) -> list[int]:
    """Start z of every window of ``period + 1`` slices needed to cover ``depth`` slices."""
    window = period + 1
    if depth < window:
        raise ValueError(f"key-slice restoration needs at least {window} slices, got {depth}")
    keys = key_positions(depth, period, key_offset)
    starts = [int(k) for k in keys if k + window <= depth]
    if not starts or starts[0] > 0:
        starts.insert(0, 0)
    if starts[-1] + window < depth:
        starts.append(depth - window)
    return starts


def slice_owners(depth: int, period: int, key_offset: int = 0) -> np.ndarray:
    """Per slice, the start of the window whose prediction it takes; -1 for key slices.

    Key-aligned windows win over the edge windows; the owner never decreases along z, so
    slices can be written in order as windows are restored in order.
    """
    starts = key_slice_windows(depth, period, key_offset)
    keys = set(key_positions(depth, period, key_offset).tolist())
    owners = np.full(depth, _KEY, dtype=np.int64)
    for start in sorted(starts, key=lambda s: s in keys):
        owners[start : start + period + 1] = start
    owners[sorted(keys)] = _KEY
    return owners


def restore_key_slice_stream(
    reader: VolumeReader,
    checkpoint: Checkpoint,
    period: int = 4,
    key_offset: int = 0,
    config: InferenceConfig | None = None,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """Yield the restored slices of a key-slice acquisition in z order, one window in memory.

    ``checkpoint`` must restore windows of ``period + 1`` slices (trained in key-slice mode
    with the same period). Key slices are yielded unchanged (cast to the output dtype).
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise VemRestoreError(f"key-slice period {period}: must be an integer >= 1")
    if not 0 <= key_offset < period:
        raise VemRestoreError(f"key offset {key_offset}: must be in 0..{period - 1}")
    window = period + 1
    restoration = checkpoint.restoration
    model_window = restoration.window
    if model_window != window:
        raise VemRestoreError(
            f"key-slice period {period} needs a model with a window of {window} slices; "
            f"this one restores windows of {model_window} (trained with period {model_window - 1}?)"
        )
    depth = reader.shape[0]
    if depth < window:
        raise VemRestoreError(
            f"key-slice restoration with period {period} needs at least {window} slices, "
            f"the volume has {depth}"
        )
    config = config or InferenceConfig()
    tile, overlap = key_window_tiling(reader.shape, window, config)
    dtype = config.resolved_dtype(reader.dtype)
    normalizer = fit_normalizer(restoration.normalization, reader)
    predictor = Predictor.from_config(checkpoint.model, config)
    batch_size = predictor.batch_size(config.batch_size, tile)
    owners = slice_owners(depth, period, key_offset)
    restored: dict[int, np.ndarray] = {}
    next_z = 0
    starts = key_slice_windows(depth, period, key_offset)
    for start in tqdm(starts, unit="window", desc="restoring", disable=not progress):
        block = ArrayReader(reader.read(slice(start, start + window)))
        try:
            grid = TileGrid.plan(block.shape, tile, overlap)
        except ValueError as error:
            raise VemRestoreError(f"tiling: {error}") from None
        outputs = restore_slices(block, predictor, normalizer, grid, batch_size, dtype)
        for z, output in zip(range(start, start + window), outputs, strict=True):
            if owners[z] == start:
                restored[z] = output
        while next_z < depth and (owners[next_z] == _KEY or next_z in restored):
            if owners[next_z] == _KEY:
                yield reader.read(slice(next_z, next_z + 1))[0].astype(dtype, copy=False)
            else:
                yield restored.pop(next_z)
            next_z += 1
