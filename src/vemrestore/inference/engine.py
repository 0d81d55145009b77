"""Tiled, blended, streaming restoration with bounded memory, its stages overlapped in time.

The engine walks the tile grid one z-row of tiles at a time, in three stages:

1. **load**: read the input the row needs (reflect-padded at the volume borders), cut it
   into the batches of tiles the network gets (in its own dtype: 1 byte per voxel for
   uint8), move each batch to the device and normalise it there;
2. **predict and blend**: run the batches through the network and add the weighted
   predictions into per-slice accumulators on the device (``blending``);
   as soon as no later tile can touch a slice, finish it (divide by its total weight,
   denormalise, cast to the output dtype) and copy it to the host;
3. **write**: the caller consumes the finished slices (e.g. a writer streaming to disk). On
   CPU this stage finishes the slices itself, which takes that numpy work off stage 2.

Pipelined (the default), stages 1 and 2 run in background threads, one row and a few
slices ahead of the next stage, so reading the next row, running the network on this one
and writing finished slices overlap. Memory is therefore about (tile depth + 1) float32
accumulator slices, three rows of normalised batches and tile-depth slices waiting to be
written (float32 accumulators on CPU, output dtype on a device), independent of the number of
slices.
Pipelined or not, the numbers are the same: each stage does the same arithmetic in the same
order.

A ``region`` restricts the work to the tiles of the *same global grid* that touch it, added
in the same order, so restoring a volume region by region (e.g. one block per worker) gives
the same numbers as restoring it in one go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from tqdm.auto import tqdm

from vemrestore.data.normalization import Normalizer
from vemrestore.geometry import TileGrid, reflect_indices
from vemrestore.inference.blending import Region, SliceBlender, normalize_tensor
from vemrestore.inference.pipeline import StageTimes, in_background
from vemrestore.inference.predictor import Predictor
from vemrestore.io.base import VolumeReader

BatchPredictor = Callable[[np.ndarray], np.ndarray]
"""(B, D, H, W) float32 -> (B, D, H, W) float32, e.g. ``vemrestore.inference.Predictor``."""

__all__ = ["BatchPredictor", "Region", "StageTimes", "gather_slices", "restore_slices"]

_TORCH_ON_CPU = False
"""Run the device (torch) arithmetic on CPU too: for tests of the GPU code path."""


def restore_slices(
    reader: VolumeReader,
    predict: BatchPredictor | Predictor,
    normalizer: Normalizer,
    grid: TileGrid,
    batch_size: int,
    output_dtype: np.dtype,
    progress: bool = False,
    region: Region | None = None,
    *,
    pipelined: bool = True,
    times: StageTimes | None = None,
) -> Iterator[np.ndarray]:
    """Yield the restored ``region`` (default: the whole volume) slice by slice.

    Each yielded array is one (region Y, region X) slice of ``output_dtype``, in z order.
    ``predict`` is a ``Predictor`` (tiles stay on its device) or any numpy batch function
    (run on the CPU). ``pipelined=False`` runs the stages in turn in the caller's thread.
    ``times``, if given, collects the seconds spent per stage.
    """
    plan = _RowPlan(grid, region or tuple(slice(0, n) for n in reader.shape), batch_size)
    device = predict.device if isinstance(predict, Predictor) else torch.device("cpu")
    times = times if times is not None else StageTimes()
    blender = SliceBlender(
        grid, plan.region, normalizer, output_dtype, device, torch_on_cpu=_TORCH_ON_CPU
    )
    rows = _load_rows(reader, plan, _normaliser(normalizer, predict, blender.on_host), times)
    with tqdm(total=plan.n_tiles, unit="tile", disable=not progress, desc="restoring") as bar:
        if pipelined:
            rows = in_background(rows, ahead=1, name="vemrestore-load")
        finished = _predict_and_blend(rows, _tensor_predictor(predict), blender, plan, times, bar)
        if pipelined:
            finished = in_background(finished, ahead=grid.z.tile, name="vemrestore-predict")
        try:
            for z, pending, ready in finished:
                if ready is not None:
                    ready.synchronize()
                if blender.on_host:
                    with times.timing("blend"):
                        pending = blender.finish(z, pending)
                with times.timing("write"):
                    yield pending.numpy()
        finally:
            finished.close()


def gather_slices(slices: Iterable[np.ndarray], depth: int) -> np.ndarray:
    """The ``depth`` slices, in z order, as one (depth, Y, X) array filled as they arrive.

    ``np.stack`` of a list holds every slice twice (the list and the stacked copy) and pays
    for the list's fresh pages, a quarter of the identity engine's in-memory time
    (benchmarks/RESULTS.md, "Engine").
    """
    volume: np.ndarray | None = None
    count = 0
    for count, image in enumerate(slices, start=1):
        if volume is None:
            volume = np.empty((depth, *image.shape), dtype=image.dtype)
        volume[count - 1] = image
    if volume is None or count != depth:
        raise ValueError(f"{count} slices for a volume of {depth}")
    return volume


@dataclass(frozen=True)
class _RowPlan:
    """The tiles of the global grid that touch ``region``, row by row, and the call size."""

    grid: TileGrid
    region: Region
    batch_size: int

    @cached_property
    def z_starts(self) -> tuple[int, ...]:
        return self.grid.z.starts_touching(self.region[0].start, self.region[0].stop)

    @cached_property
    def y_starts(self) -> tuple[int, ...]:
        return self.grid.y.starts_touching(self.region[1].start, self.region[1].stop)

    @cached_property
    def x_starts(self) -> tuple[int, ...]:
        return self.grid.x.starts_touching(self.region[2].start, self.region[2].stop)

    @cached_property
    def yx_tiles(self) -> list[tuple[int, int]]:
        return [(ys, xs) for ys in self.y_starts for xs in self.x_starts]

    @property
    def y_range(self) -> tuple[int, int]:
        return self.y_starts[0], self.y_starts[-1] + self.grid.y.tile

    @property
    def x_range(self) -> tuple[int, int]:
        return self.x_starts[0], self.x_starts[-1] + self.grid.x.tile

    @property
    def n_tiles(self) -> int:
        return len(self.z_starts) * len(self.yx_tiles)

    @property
    def call_size(self) -> int:
        """Tiles per network call. Every call gets this many (a short batch is padded by
        repeating its last tile): a network's per-tile output can depend on the batch size
        (oneDNN and cuDNN choose algorithms by shape), and any region must give the numbers
        of the whole."""
        return min(self.batch_size, len(self.grid.y.starts) * len(self.grid.x.starts))

    def finished_before(self, row: int) -> int:
        """Slices below this z are complete once row ``row`` has been added."""
        if row + 1 < len(self.z_starts):
            return min(self.z_starts[row + 1], self.region[0].stop)
        return self.region[0].stop


Batch = tuple[list[tuple[int, int]], torch.Tensor]
"""(y, x) starts of a call's tiles and the normalised (call size, D, H, W) float32 batch."""


def _load_rows(
    reader: VolumeReader,
    plan: _RowPlan,
    normalise: Callable[[np.ndarray], torch.Tensor],
    times: StageTimes,
) -> Iterator[tuple[int, list[Batch]]]:
    """Stage 1: (z start, the row's batches on the device, normalised).

    A short last batch is padded by repeating its last tile (``_RowPlan.call_size``)."""
    tile_y, tile_x = plan.grid.y.tile, plan.grid.x.tile
    (y_first, _), (x_first, _) = plan.y_range, plan.x_range
    for z_start in plan.z_starts:
        with times.timing("read"):
            raw = read_padded_block(
                reader, (z_start, z_start + plan.grid.z.tile), plan.y_range, plan.x_range
            )
        with times.timing("normalise"):
            batches = []
            for first in range(0, len(plan.yx_tiles), plan.batch_size):
                batch_tiles = plan.yx_tiles[first : first + plan.batch_size]
                tiles = [
                    raw[
                        :,
                        ys - y_first : ys - y_first + tile_y,
                        xs - x_first : xs - x_first + tile_x,
                    ]
                    for ys, xs in batch_tiles
                ]
                tiles += tiles[-1:] * (plan.call_size - len(tiles))
                batches.append((batch_tiles, normalise(np.stack(tiles))))
        yield z_start, batches


def _predict_and_blend(
    rows: Iterator[tuple[int, list[Batch]]],
    predict: Callable[[torch.Tensor], torch.Tensor],
    blender: SliceBlender,
    plan: _RowPlan,
    times: StageTimes,
    bar: tqdm,
) -> Iterator[tuple[int, np.ndarray | torch.Tensor, torch.cuda.Event | None]]:
    """Stage 2: (z, slice, event) for each slice no later tile touches. On a device the slice
    is finished there and its copy to the host started (the event marks it done); on the host
    it is the accumulator, finished by stage 3 (so two threads share the numpy work)."""
    next_slice = plan.region[0].start
    try:
        for row, (z_start, batches) in enumerate(rows):
            blender.open_row(z_start)
            for batch_tiles, batch in batches:
                with times.timing("predict"):
                    predictions = predict(batch)
                with times.timing("blend"):
                    for (ys, xs), prediction in zip(batch_tiles, predictions, strict=False):
                        blender.add(prediction, z_start, ys, xs)
                bar.update(len(batch_tiles))
            del batches
            with times.timing("blend"):
                while next_slice < plan.finished_before(row):
                    total = blender.take(next_slice)
                    if blender.on_host:  # finished by the consumer's thread
                        yield next_slice, total, None
                    else:
                        yield next_slice, *_to_host(blender.finish(next_slice, total))
                    next_slice += 1
    finally:
        rows.close()


def _to_host(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.cuda.Event | None]:
    """Start copying a device tensor to the host; the event (CUDA only) marks the copy done."""
    if tensor.device.type != "cuda":
        return tensor.cpu(), None
    host = tensor.to("cpu", non_blocking=True)
    ready = torch.cuda.Event()
    ready.record()
    return host, ready


def _normaliser(
    normalizer: Normalizer, predict: BatchPredictor | Predictor, on_host: bool
) -> Callable[[np.ndarray], torch.Tensor]:
    """Raw batch -> normalised float32 batch on the device (uploaded in its own dtype)."""
    if on_host:
        return lambda raw: torch.from_numpy(normalizer.normalize(raw))
    upload = predict.upload if isinstance(predict, Predictor) else (lambda tensor: tensor)
    return lambda raw: normalize_tensor(upload(torch.from_numpy(raw)), normalizer)


def _tensor_predictor(
    predict: BatchPredictor | Predictor,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The batch function on tensors: a ``Predictor`` as it is, a numpy function wrapped."""
    if isinstance(predict, Predictor):
        return lambda batch: predict.predict(predict.upload(batch))
    return lambda batch: torch.from_numpy(np.asarray(predict(batch.numpy()), dtype=np.float32))


def read_padded_block(
    reader: VolumeReader,
    z_range: tuple[int, int],
    y_range: tuple[int, int],
    x_range: tuple[int, int],
) -> np.ndarray:
    """Raw block (input dtype) covering virtual [start, stop) ranges of the mirrored volume.

    Only the real voxels the block needs are read. Mirroring at the volume borders is done
    with ``np.pad`` on the raw dtype where it can (4× fewer bytes than float32 for uint8),
    and by index lookup where a border is mirrored more than once (tiny volumes).
    """
    ranges = (z_range, y_range, x_range)
    reads = tuple(
        slice(max(lo, 0), min(hi, n)) for (lo, hi), n in zip(ranges, reader.shape, strict=True)
    )
    raw = reader.read(*reads)
    widths = [(r.start - lo, hi - r.stop) for (lo, hi), r in zip(ranges, reads, strict=True)]
    if all(w < n for pair, n in zip(widths, raw.shape, strict=True) for w in pair):
        return np.pad(raw, widths, mode="reflect") if any(map(any, widths)) else raw
    sources = [
        reflect_indices(lo, hi, n) - r.start
        for (lo, hi), n, r in zip(ranges, reader.shape, reads, strict=True)
    ]
    return raw[np.ix_(*sources)]
