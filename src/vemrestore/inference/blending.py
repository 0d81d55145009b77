"""Weighted blending of tile predictions into slices, on the engine's device.

Every array here lives on one device: on a GPU the predictions never leave it, and a slice
comes back to the host only when finished, already in the output dtype (1 byte per voxel for
uint8 instead of 4 per tile voxel). Each tile adds ``prediction · (yx weight · z weight)``;
a finished slice is divided by ``z weight sum · yx weight sum`` and mapped back with the
normaliser. The torch arithmetic repeats the numpy arithmetic operation for operation, so
both give the same bits on CPU.

On CPU (and Apple MPS, which lacks some integer types) the arithmetic runs in NumPy on the
host, single-threaded, and without temporaries: a tile is added as rectangles, its zero-weight
halo skipped (adding zeros changes nothing), its unit-weight interior added without the
multiply (× 1 is exact) and the ramps multiplied into a reused buffer, so the numbers are the
ones of ``prediction · weight`` added whole. The engine's
stages already run in parallel threads, and PyTorch's intra-op threads busy-wait, which
made these small operations several times slower on a loaded machine (measured: 2 threads
on 2 busy cores, 11 against 26 Mvoxel/s for the identity model). ``torch_on_cpu`` runs the
device code path on CPU instead (tests compare the two).
"""

from __future__ import annotations

import numpy as np
import torch

from vemrestore.data.normalization import Normalizer
from vemrestore.geometry import TileGrid

Region = tuple[slice, slice, slice]
"""A (z, y, x) box of the volume, as slices with explicit start and stop."""


def normalize_tensor(raw: torch.Tensor, normalizer: Normalizer) -> torch.Tensor:
    """``Normalizer.normalize`` on a tensor: a new float32 tensor on the same device."""
    scale = float(np.float32(1.0 / (normalizer.high - normalizer.low)))
    values = raw.to(torch.float32, copy=True)
    return values.sub_(float(np.float32(normalizer.low))).mul_(scale)


def denormalize_tensor(
    values: torch.Tensor, normalizer: Normalizer, dtype: np.dtype
) -> torch.Tensor:
    """``Normalizer.denormalize`` in place on a float32 tensor; returns it cast to ``dtype``."""
    values.mul_(float(np.float32(normalizer.high - normalizer.low)))
    values.add_(float(np.float32(normalizer.low)))
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        values.round_().clamp_(info.min, info.max)
    return values.to(torch_dtype(dtype))


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    """The torch dtype of a numpy dtype (uint8, uint16, float32...)."""
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


class SliceBlender:
    """Per-slice float32 accumulators of a region, filled tile by tile, finished slice by slice.

    Memory: one (region Y, region X) float32 slice per open z, at most tile depth + 1.
    """

    def __init__(
        self,
        grid: TileGrid,
        region: Region,
        normalizer: Normalizer,
        output_dtype: np.dtype,
        device: torch.device,
        *,
        torch_on_cpu: bool = False,
    ) -> None:
        self.grid, self.region, self.device = grid, region, device
        self.on_host = device.type == "cpu" and not torch_on_cpu or device.type == "mps"
        self._normalizer, self._output_dtype = normalizer, np.dtype(output_dtype)
        (y0, y1), (x0, x1) = ((r.start, r.stop) for r in region[1:])
        self._shape = (y1 - y0, x1 - x0)
        tile_weights = grid.z.weights[:, None, None] * grid.yx_weights[None]
        yx_weight_sum = np.outer(grid.y.weight_sum[y0:y1], grid.x.weight_sum[x0:x1])
        self._tile_weights = self._on_device(tile_weights)
        self._yx_weight_sum = self._on_device(yx_weight_sum)
        self._slices: dict[int, np.ndarray | torch.Tensor] = {}
        self._divisors: dict[float, np.ndarray | torch.Tensor] = {}
        if self.on_host:
            self._buffer = np.empty(grid.tile[1:], dtype=np.float32)
            self._rectangles = [_weighted_rectangles(grid, z) for z in range(grid.z.tile)]

    def open_row(self, z_start: int) -> None:
        """Make accumulators for the region's slices that the z-row at ``z_start`` covers."""
        z_lo, z_hi, _ = self.grid.z.real_span(z_start)
        for z in range(max(z_lo, self.region[0].start), min(z_hi, self.region[0].stop)):
            if z not in self._slices:
                self._slices[z] = self._on_device(np.zeros(self._shape, dtype=np.float32))

    def add(self, prediction: torch.Tensor, z_start: int, y_start: int, x_start: int) -> None:
        """Add the weighted part of one (D, H, W) tile prediction that falls in the region."""
        spans = []
        for axis, start, box in zip(
            (self.grid.z, self.grid.y, self.grid.x),
            (z_start, y_start, x_start),
            self.region,
            strict=True,
        ):
            lo, hi = max(start, box.start), min(start + axis.tile, box.stop)
            spans.append((lo, hi, slice(lo - start, hi - start)))
        (z_lo, z_hi, in_z), (y_lo, y_hi, in_y), (x_lo, x_hi, in_x) = spans
        target_y = slice(y_lo - self.region[1].start, y_hi - self.region[1].start)
        target_x = slice(x_lo - self.region[2].start, x_hi - self.region[2].start)
        if self.on_host:
            self._add_on_host(prediction.cpu().numpy(), z_lo - z_start, spans)
            return
        weighted = prediction[in_z, in_y, in_x] * self._tile_weights[in_z, in_y, in_x]
        z_weights = self.grid.z.weights[in_z]
        for z, slice_weighted, z_weight in zip(range(z_lo, z_hi), weighted, z_weights, strict=True):
            if z_weight != 0:
                self._slices[z][target_y, target_x] += slice_weighted

    def _add_on_host(
        self, prediction: np.ndarray, first: int, spans: list[tuple[int, int, slice]]
    ) -> None:
        """``add`` in NumPy: each slice's rectangles, clipped to the region, in place."""
        (z_lo, z_hi, _), (_, _, in_y), (_, _, in_x) = spans
        shift_y = in_y.start - (spans[1][0] - self.region[1].start)
        shift_x = in_x.start - (spans[2][0] - self.region[2].start)
        for z in range(z_lo, z_hi):
            index = first + z - z_lo
            for (y0, y1), (x0, x1), unit in self._rectangles[index]:
                y0, y1 = max(y0, in_y.start), min(y1, in_y.stop)
                x0, x1 = max(x0, in_x.start), min(x1, in_x.stop)
                if y0 >= y1 or x0 >= x1:
                    continue
                target = self._slices[z][y0 - shift_y : y1 - shift_y, x0 - shift_x : x1 - shift_x]
                part = prediction[index, y0:y1, x0:x1]
                if not unit:
                    part = np.multiply(
                        part,
                        self._tile_weights[index, y0:y1, x0:x1],
                        out=self._buffer[: y1 - y0, : x1 - x0],
                    )
                np.add(target, part, out=target)

    def take(self, z: int) -> np.ndarray | torch.Tensor:
        """Slice ``z``'s accumulator, which no later tile touches, for ``finish``."""
        return self._slices.pop(z)

    def finish(self, z: int, total: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Slice ``z``'s accumulator (from ``take``) divided by its total weight and
        denormalised, in the output dtype. On the host it may run in another thread than
        ``add``: it touches nothing the accumulating thread changes."""
        total /= self._divisor(float(self.grid.z.weight_sum[z]))
        if self.on_host:
            finished = self._normalizer.denormalize(total, self._output_dtype, overwrite=True)
            return torch.from_numpy(finished)
        return denormalize_tensor(total, self._normalizer, self._output_dtype)

    def _divisor(self, z_weight_sum: float) -> np.ndarray | torch.Tensor:
        """``yx weight sum · z weight sum``, kept per z weight sum: a tile depth has only a
        few, and a fresh product per slice cost a pass and a slice's new pages."""
        if z_weight_sum not in self._divisors:
            self._divisors[z_weight_sum] = self._yx_weight_sum * z_weight_sum
        return self._divisors[z_weight_sum]

    def _on_device(self, array: np.ndarray) -> np.ndarray | torch.Tensor:
        return array if self.on_host else torch.from_numpy(array).to(self.device)


Rectangle = tuple[tuple[int, int], tuple[int, int], bool]
"""(y range, x range, weight is exactly 1) of a tile slice, in tile coordinates."""


def _weighted_rectangles(grid: TileGrid, z: int) -> list[Rectangle]:
    """Slice ``z`` of a tile as disjoint rectangles covering its non-zero weights: the
    unit-weight interior (only when the z weight is 1) and the ramps around it."""
    if grid.z.weights[z] == 0:
        return []
    (y0, y1), (x0, x1) = _span(grid.y.weights > 0), _span(grid.x.weights > 0)
    if grid.z.weights[z] != 1:
        return [((y0, y1), (x0, x1), False)]
    (yi0, yi1), (xi0, xi1) = _span(grid.y.weights == 1), _span(grid.x.weights == 1)
    if yi0 >= yi1 or xi0 >= xi1:
        return [((y0, y1), (x0, x1), False)]
    ramps = [
        ((y0, yi0), (x0, x1)),
        ((yi0, yi1), (x0, xi0)),
        ((yi0, yi1), (xi1, x1)),
        ((yi1, y1), (x0, x1)),
    ]
    inside = [((yi0, yi1), (xi0, xi1), True)]
    return inside + [(ys, xs, False) for ys, xs in ramps if ys[0] < ys[1] and xs[0] < xs[1]]


def _span(selected: np.ndarray) -> tuple[int, int]:
    """[first, last + 1) of the selected entries of a blending profile (e.g. its non-zero or
    unit weights): profiles rise, hold and fall, so these entries are contiguous."""
    where = np.flatnonzero(selected)
    return (int(where[0]), int(where[-1]) + 1) if where.size else (0, 0)
