r"""Write blocks: how a volume is cut into independent pieces of work aligned to output chunks.

A block owns a box of whole output chunks (its *write* region) and is restored from the
union of the tiles of the global ``TileGrid`` that touch it (its *read* region, clipped to
the volume; the engine mirrors beyond the border itself). Blocks are multiples of the chunk
shape, so no two blocks ever write the same chunk, and the last block on an axis simply
ends at the volume's edge, taking the partial chunk with it. Along one axis of length L,
chunk c and block size 2c::

    axis:     0       c       2c      3c    L
    chunks:   |-------|-------|-------|-----|        the last chunk is partial
    write:    [ block 0       )[ block 1    )        block 1 = 1.x chunks, ends at L
    tiles:  [....]  [....]  [....]  [....]  [....]   virtual tiles, may start before 0
    read 1:               [=================)        tiles touching block 1, clipped to L
    read 0: [=====================)                  clipped at 0, never negative

The block id is derived from the write region alone (``z0-16_y0-512_x512-1024``), so a
rerun with the same chunking finds the same ids, whatever the number of workers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from vemrestore.geometry.tiling import TileGrid

Span = tuple[int, int]
"""A half-open [start, stop) range of voxels along one axis."""

Box = tuple[Span, Span, Span]
"""A (z, y, x) box as three spans."""

Triple = tuple[int, int, int]


def _slices(box: Box) -> tuple[slice, slice, slice]:
    (z0, z1), (y0, y1), (x0, x1) = box
    return slice(z0, z1), slice(y0, y1), slice(x0, x1)


@dataclass(frozen=True)
class Block:
    """One unit of work: the box it writes and the box of input it reads (both real voxels)."""

    write: Box
    read: Box

    @property
    def id(self) -> str:
        """Deterministic name derived from the write region, safe as a file name."""
        return "_".join(
            f"{axis}{lo}-{hi}" for axis, (lo, hi) in zip("zyx", self.write, strict=True)
        )

    @property
    def write_region(self) -> tuple[slice, slice, slice]:
        return _slices(self.write)

    @property
    def read_region(self) -> tuple[slice, slice, slice]:
        return _slices(self.read)

    @property
    def read_shape(self) -> Triple:
        (z0, z1), (y0, y1), (x0, x1) = self.read
        return (z1 - z0, y1 - y0, x1 - x0)

    def within_read(self, z: slice, y: slice, x: slice) -> tuple[slice, slice, slice]:
        """Global slices (explicit start and stop) as slices into the read region's array."""
        local = []
        for axis, wanted, (lo, hi) in zip("zyx", (z, y, x), self.read, strict=True):
            if wanted.start < lo or wanted.stop > hi:
                raise ValueError(
                    f"{axis} range {wanted.start}:{wanted.stop} is outside block {self.id}'s "
                    f"read region {lo}:{hi}"
                )
            local.append(slice(wanted.start - lo, wanted.stop - lo))
        return local[0], local[1], local[2]


def round_block_shape(requested: Triple, chunks: Triple, shape: Triple) -> Triple:
    """``requested`` rounded up to whole chunks per axis, and no larger than the volume needs."""
    rounded = []
    for want, chunk, length in zip(requested, chunks, shape, strict=True):
        if want < 1 or chunk < 1:
            raise ValueError(f"block and chunk sizes must be >= 1, got {requested} and {chunks}")
        chunks_per_block = min(-(-want // chunk), -(-length // chunk))
        rounded.append(chunks_per_block * chunk)
    return rounded[0], rounded[1], rounded[2]


def plan_blocks(grid: TileGrid, chunks: Triple, block_shape: Triple) -> list[Block]:
    """Cut the grid's volume into blocks of ``block_shape`` (whole chunks), in z, y, x order."""
    axes = (grid.z, grid.y, grid.x)
    for axis, size, chunk in zip("zyx", block_shape, chunks, strict=True):
        if size < 1 or chunk < 1 or size % chunk:
            raise ValueError(
                f"block size along {axis} ({size}) must be a positive multiple of the chunk "
                f"size ({chunk})"
            )
    spans_per_axis = []
    for tiling, size in zip(axes, block_shape, strict=True):
        spans = []
        for lo in range(0, tiling.length, size):
            hi = min(lo + size, tiling.length)
            starts = tiling.starts_touching(lo, hi)
            read = (max(starts[0], 0), min(starts[-1] + tiling.tile, tiling.length))
            spans.append(((lo, hi), read))
        spans_per_axis.append(spans)
    return [
        Block(write=(z[0], y[0], x[0]), read=(z[1], y[1], x[1]))
        for z, y, x in itertools.product(*spans_per_axis)
    ]
