"""Block planning: whole chunks, every voxel written once, read regions = touching tiles."""

import numpy as np
import pytest

from vemrestore.geometry import TileGrid
from vemrestore.geometry.blocks import Block, plan_blocks, round_block_shape

SHAPE = (13, 70, 53)
CHUNKS = (4, 24, 20)


@pytest.fixture
def grid() -> TileGrid:
    return TileGrid.plan(SHAPE, (5, 32, 24), (2, 8, 8))


def test_blocks_write_every_voxel_once_in_whole_chunks(grid):
    blocks = plan_blocks(grid, CHUNKS, (8, 48, 20))
    written = np.zeros(SHAPE, dtype=int)
    for block in blocks:
        written[block.write_region] += 1
        for (lo, hi), chunk, length in zip(block.write, CHUNKS, SHAPE, strict=True):
            assert lo % chunk == 0 and (hi % chunk == 0 or hi == length)
    assert (written == 1).all()
    assert len(blocks) == 2 * 2 * 3


def test_read_region_is_the_union_of_touching_tiles_clipped_to_the_volume(grid):
    for block in plan_blocks(grid, CHUNKS, (8, 48, 20)):
        for axis, (lo, hi), (read_lo, read_hi) in zip(
            (grid.z, grid.y, grid.x), block.write, block.read, strict=True
        ):
            starts = axis.starts_touching(lo, hi)
            assert read_lo == max(starts[0], 0) and read_hi == min(
                starts[-1] + axis.tile, axis.length
            )
            assert read_lo <= lo < hi <= read_hi


def test_block_ids_are_derived_from_the_write_region_and_unique(grid):
    blocks = plan_blocks(grid, CHUNKS, (8, 48, 20))
    assert blocks[0].id == "z0-8_y0-48_x0-20"
    assert blocks[-1].id == "z8-13_y48-70_x40-53"
    assert len({b.id for b in blocks}) == len(blocks)
    assert [b.id for b in plan_blocks(grid, CHUNKS, (8, 48, 20))] == [b.id for b in blocks]


def test_block_shape_is_rounded_up_to_whole_chunks_and_capped_by_the_volume():
    assert round_block_shape((5, 30, 1), CHUNKS, SHAPE) == (8, 48, 20)
    assert round_block_shape((64, 2048, 2048), CHUNKS, SHAPE) == (16, 72, 60)


def test_block_shape_must_be_a_multiple_of_the_chunks(grid):
    with pytest.raises(ValueError, match="along y"):
        plan_blocks(grid, CHUNKS, (8, 30, 20))


def test_within_read_translates_global_slices_and_refuses_the_outside():
    block = Block(write=((4, 8), (24, 48), (0, 20)), read=((2, 10), (16, 56), (0, 28)))
    assert block.within_read(slice(2, 7), slice(20, 56), slice(0, 5)) == (
        slice(0, 5),
        slice(4, 40),
        slice(0, 5),
    )
    with pytest.raises(ValueError, match="outside block z4-8_y24-48_x0-20"):
        block.within_read(slice(1, 7), slice(20, 56), slice(0, 5))
