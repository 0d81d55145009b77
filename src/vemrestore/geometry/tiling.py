r"""Tile placement and blending weights: the only place that does tile offset arithmetic.

One axis of length L is covered by tiles of size T that overlap by O voxels. The volume is
extended by reflection (a virtual, infinitely mirrored volume), so tiles may start before 0
and end after L: border voxels then get the same context as interior ones, and volumes
smaller than one tile work. Each tile contributes with a weight profile that is zero in a
``halo`` of O // 4 voxels at both tile ends (where a network's predictions lack context),
rises smoothly (sin²) over the next O - 2·halo voxels and is 1 in the middle::

    virtual axis:  -h  0                                  L  L+h
                    |··|==================================|··|
    tile 0:         [..../‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾\....]
    tile 1:                          [..../‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾\....]      (last tile is
    weights:        0  ramp   1          ramp  0                        shifted back to
                                                                        end at L + h)

Output = Σ w·prediction / Σ w, so overlapping predictions blend without seams, and a
network whose receptive field reaches at most ``halo`` voxels gives exactly the same result
tiled or in one piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


def reflect_indices(start: int, stop: int, length: int) -> np.ndarray:
    """Source indices of virtual positions ``start..stop-1`` on an axis mirrored at its ends.

    Mirroring excludes the edge voxel (numpy's ``reflect``): for length 4, positions
    -2..5 map to 2 1 0 1 2 3 2 1. Any distance works, so a 1-slice volume can fill a
    5-slice window.
    """
    positions = np.arange(start, stop)
    if length == 1:
        return np.zeros_like(positions)
    period = 2 * (length - 1)
    folded = np.mod(positions, period)
    return np.where(folded >= length, period - folded, folded)


def blend_profile(size: int, overlap: int) -> np.ndarray:
    """1D blending weights (float32) of a tile of ``size`` whose ends overlap by ``overlap``."""
    halo = overlap // 4
    ramp = overlap - 2 * halo
    distance_to_end = np.minimum(np.arange(size), np.arange(size)[::-1])
    rising = np.sin(0.5 * np.pi * (distance_to_end - halo + 1) / (ramp + 1)) ** 2
    weights = np.where(
        distance_to_end < halo, 0.0, np.where(distance_to_end < halo + ramp, rising, 1.0)
    )
    return weights.astype(np.float32)


def fitted_tile(length: int, max_tile: int, overlap: int, multiple: int = 16) -> int:
    """The smallest tile (a multiple of ``multiple``) that covers an axis in as few tiles of at
    most ``max_tile`` as possible.

    A fixed tile wastes work where the last tile is shifted back over its neighbour: a
    1024-voxel axis (1040 with halos) takes five 256-voxel tiles, 1.25× the axis, or three
    512-voxel tiles, 1.5×. Spreading the same number of tiles evenly needs three 368-voxel
    tiles, 1.08×. The multiple keeps U-Nets from padding the tile internally.
    """
    covered = length + 2 * (overlap // 4)
    stride = max(max_tile - overlap, 1)
    count = max(1, -(-(covered - overlap) // stride))
    tile = max(-(-(covered - overlap) // count) + overlap, overlap + 1)
    return -(-tile // multiple) * multiple


@dataclass(frozen=True)
class AxisTiling:
    """Tiles along one axis: virtual start positions (may be negative), size and weights."""

    length: int
    tile: int
    overlap: int

    def __post_init__(self) -> None:
        if self.length < 1 or self.tile < 1:
            raise ValueError(f"length and tile must be >= 1, got {self.length} and {self.tile}")
        if not 0 <= self.overlap < self.tile:
            raise ValueError(f"overlap must be in 0..{self.tile - 1}, got {self.overlap}")

    @property
    def halo(self) -> int:
        return self.overlap // 4

    @cached_property
    def starts(self) -> tuple[int, ...]:
        """Virtual start of each tile, increasing; tiles cover ``-halo .. length + halo``."""
        covered = max(self.length + 2 * self.halo, self.tile)
        stride = self.tile - self.overlap
        starts = list(range(0, covered - self.tile + 1, stride))
        if starts[-1] + self.tile < covered:
            starts.append(covered - self.tile)
        return tuple(s - self.halo for s in starts)

    @cached_property
    def weights(self) -> np.ndarray:
        """(tile,) float32 blending weights of every tile on this axis."""
        return blend_profile(self.tile, self.overlap)

    @cached_property
    def weight_sum(self) -> np.ndarray:
        """(length,) float32 total weight at each real position; always > 0."""
        total = np.zeros(self.length, dtype=np.float64)
        for start in self.starts:
            lo, hi = max(start, 0), min(start + self.tile, self.length)
            total[lo:hi] += self.weights[lo - start : hi - start]
        return total.astype(np.float32)

    def starts_touching(self, lo: int, hi: int) -> tuple[int, ...]:
        """Starts of the tiles that overlap the real range [lo, hi), in increasing order."""
        return tuple(s for s in self.starts if s < hi and s + self.tile > lo)

    def real_span(self, start: int) -> tuple[int, int, slice]:
        """For a tile at ``start``: real range [lo, hi) it covers and its slice in the tile."""
        lo, hi = max(start, 0), min(start + self.tile, self.length)
        return lo, hi, slice(lo - start, hi - start)


@dataclass(frozen=True)
class TileGrid:
    """The product of three axis tilings over a (Z, Y, X) volume."""

    z: AxisTiling
    y: AxisTiling
    x: AxisTiling

    @classmethod
    def plan(
        cls, shape: tuple[int, int, int], tile: tuple[int, int, int], overlap: tuple[int, int, int]
    ) -> TileGrid:
        return cls(*(AxisTiling(n, t, o) for n, t, o in zip(shape, tile, overlap, strict=True)))

    @property
    def tile(self) -> tuple[int, int, int]:
        """(z, y, x) tile size."""
        return self.z.tile, self.y.tile, self.x.tile

    @property
    def n_tiles(self) -> int:
        return len(self.z.starts) * len(self.y.starts) * len(self.x.starts)

    @cached_property
    def yx_weights(self) -> np.ndarray:
        """(tile_y, tile_x) float32 in-plane blending weights."""
        return np.outer(self.y.weights, self.x.weights)


def settled_prefix(tile: int, overlap: int, available: int) -> int:
    r"""How many leading positions of a growing axis are already final, with ``available`` known.

    A stack being acquired has ``available`` slices now and an unknown final length
    ``L >= available``. Position ``z`` of ``AxisTiling(L, tile, overlap)`` is final when every
    tile touching it, and so its weight sum, is the same for every such ``L`` and reads only
    real slices below ``available``::

        regular starts:  s_k = k·stride - halo       (the same for every L)
        last tile:       starts at L + halo - tile   (off the lattice for some L: depends on L)
        final:           z < first s_k whose tile reaches past ``available``
                     and z < the lowest such last-tile start over every L >= available

    The rest waits until the acquisition ends and ``L`` is known. With stride 1 (e.g. a 2D
    model: tile 1, overlap 0) every slice is final as soon as it is available.
    """
    halo = overlap // 4
    stride = tile - overlap
    first_open = max(0, (available + halo - tile) // stride + 1)
    settled = first_open * stride - halo
    if stride > 1:
        off_lattice = available + (1 if (available + 2 * halo - tile) % stride == 0 else 0)
        settled = min(settled, off_lattice + halo - tile)
    return max(0, min(settled, available))
