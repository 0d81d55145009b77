"""The sequential engine of 2026-11, frozen: the oracle the pipelined engine must match bit for bit.

A copy of ``vemrestore.inference.engine`` before it was pipelined (one thread, numpy
accumulation, the old ``Normalizer`` arithmetic written out); only the border padding is
the engine's. Tests only; it is not maintained beyond being the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from vemrestore.data.normalization import Normalizer
from vemrestore.geometry import TileGrid
from vemrestore.inference.engine import read_padded_block
from vemrestore.io.base import VolumeReader

BatchPredictor = Callable[[np.ndarray], np.ndarray]
"""(B, D, H, W) float32 -> (B, D, H, W) float32, e.g. ``vemrestore.inference.Predictor``."""

Region = tuple[slice, slice, slice]
"""A (z, y, x) box of the volume, as slices with explicit start and stop."""


def restore_slices(
    reader: VolumeReader,
    predict: BatchPredictor,
    normalizer: Normalizer,
    grid: TileGrid,
    batch_size: int,
    output_dtype: np.dtype,
    progress: bool = False,
    region: Region | None = None,
) -> Iterator[np.ndarray]:
    """Yield the restored ``region`` (default: the whole volume) slice by slice.

    Each yielded array is one (region Y, region X) slice of ``output_dtype``, in z order.
    """
    region = region or tuple(slice(0, n) for n in reader.shape)
    (z0, z1), (y0, y1), (x0, x1) = ((r.start, r.stop) for r in region)
    z_starts = grid.z.starts_touching(z0, z1)
    y_starts = grid.y.starts_touching(y0, y1)
    x_starts = grid.x.starts_touching(x0, x1)
    y_range = (y_starts[0], y_starts[-1] + grid.y.tile)
    x_range = (x_starts[0], x_starts[-1] + grid.x.tile)
    yx_tiles = [(ys, xs) for ys in y_starts for xs in x_starts]
    # Every network call gets the same number of tiles (a short batch is padded by repeating
    # its last tile): a network's per-tile output can depend on the batch size (oneDNN and
    # cuDNN choose algorithms by shape), and any region must give the numbers of the whole.
    call_size = min(batch_size, len(grid.y.starts) * len(grid.x.starts))
    yx_weight_sum = np.outer(grid.y.weight_sum[y0:y1], grid.x.weight_sum[x0:x1])
    accumulators: dict[int, np.ndarray] = {}
    next_to_yield = z0

    total_tiles = len(z_starts) * len(yx_tiles)
    with tqdm(total=total_tiles, unit="tile", disable=not progress, desc="restoring") as bar:
        for row, z_start in enumerate(z_starts):
            slab = _read_padded_block(
                reader, normalizer, (z_start, z_start + grid.z.tile), y_range, x_range
            )
            z_lo, z_hi, z_in_tile = grid.z.real_span(z_start)
            for z in range(max(z_lo, z0), min(z_hi, z1)):
                if z not in accumulators:
                    accumulators[z] = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
            for first in range(0, len(yx_tiles), batch_size):
                batch_tiles = yx_tiles[first : first + batch_size]
                tiles = [
                    slab[
                        :,
                        ys - y_range[0] : ys - y_range[0] + grid.y.tile,
                        xs - x_range[0] : xs - x_range[0] + grid.x.tile,
                    ]
                    for ys, xs in batch_tiles
                ]
                tiles += tiles[-1:] * (call_size - len(tiles))
                predictions = predict(np.stack(tiles))[: len(batch_tiles)]
                for (ys, xs), prediction in zip(batch_tiles, predictions, strict=True):
                    _accumulate(accumulators, grid, region, prediction, z_start, ys, xs)
                bar.update(len(batch_tiles))
            done_below = z_starts[row + 1] if row + 1 < len(z_starts) else z1
            while next_to_yield < min(done_below, z1):
                total = accumulators.pop(next_to_yield)
                total /= grid.z.weight_sum[next_to_yield] * yx_weight_sum
                yield _denormalize(total, normalizer, output_dtype)
                next_to_yield += 1


def _read_padded_block(
    reader: VolumeReader,
    normalizer: Normalizer,
    z_range: tuple[int, int],
    y_range: tuple[int, int],
    x_range: tuple[int, int],
) -> np.ndarray:
    """Normalised float32 block (the padding itself is the engine's, unchanged)."""
    padded = read_padded_block(reader, z_range, y_range, x_range)
    scale = np.float32(1.0 / (normalizer.high - normalizer.low))
    return (padded.astype(np.float32) - np.float32(normalizer.low)) * scale


def _denormalize(data: np.ndarray, normalizer: Normalizer, dtype: np.dtype) -> np.ndarray:
    values = data * np.float32(normalizer.high - normalizer.low) + np.float32(normalizer.low)
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return values.astype(dtype, copy=False)


def _accumulate(
    accumulators: dict[int, np.ndarray],
    grid: TileGrid,
    region: Region,
    prediction: np.ndarray,
    z_start: int,
    y_start: int,
    x_start: int,
) -> None:
    """Add the weighted part of one tile's prediction that falls inside ``region``."""
    spans = []
    for axis, start, box in zip(
        (grid.z, grid.y, grid.x), (z_start, y_start, x_start), region, strict=True
    ):
        lo, hi = max(start, box.start), min(start + axis.tile, box.stop)
        spans.append((lo, hi, slice(lo - start, hi - start)))
    (z_lo, z_hi, z_in_tile), (y_lo, y_hi, y_in_tile), (x_lo, x_hi, x_in_tile) = spans
    yx_weights = grid.yx_weights[y_in_tile, x_in_tile]
    target_y = slice(y_lo - region[1].start, y_hi - region[1].start)
    target_x = slice(x_lo - region[2].start, x_hi - region[2].start)
    for z, slice_prediction, z_weight in zip(
        range(z_lo, z_hi), prediction[z_in_tile], grid.z.weights[z_in_tile], strict=True
    ):
        if z_weight == 0:
            continue
        accumulators[z][target_y, target_x] += slice_prediction[y_in_tile, x_in_tile] * (
            yx_weights * z_weight
        )
