"""Settings of whole-volume restoration."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vemrestore.geometry.tiling import fitted_tile

Triple = tuple[int, int, int]

MAX_BATCH_VOXELS = 2**27
"""Most voxels in one network call (batch size × tile voxels): 512 MiB of float32 input, far
above what restores well, and it stops a typo (``--tile 1,100000,100000``) before it
allocates tens of GiB."""


def check_batch_voxels(tile: Triple, batch_size: int) -> None:
    """Refuse tiles whose batch exceeds ``MAX_BATCH_VOXELS``, naming the limit."""
    voxels = batch_size * tile[0] * tile[1] * tile[2]
    if voxels > MAX_BATCH_VOXELS:
        raise ValueError(
            f"batch size {batch_size} × tile {tile} = {voxels} voxels per network call, over "
            f"vemrestore's limit of {MAX_BATCH_VOXELS}; use a smaller tile or batch size"
        )


DEFAULT_TILE_YX = 512
"""Largest default in-plane tile: chosen by measured whole-volume throughput on CPU
(benchmarks/RESULTS.md, "Tile size"); larger tiles recompute less overlap."""

DEFAULT_BATCH_SIZE = 4
"""Tiles per network call on CPU (and wherever free memory cannot be measured)."""


class InferenceConfig(BaseModel):
    """How a volume is cut into tiles and run through the network.

    ``tile``/``overlap`` are (z, y, x) in voxels; None picks defaults from the model: tile
    depth = the model's window, in-plane at most 512×512 spread evenly over the plane,
    overlap (window // 2, 32, 32). A larger
    overlap costs time but lets each voxel be predicted from more positions in the window.

    ``batch_size`` None: ``DEFAULT_BATCH_SIZE`` tiles per network call on CPU, on a GPU as
    many as half its free memory holds. On a GPU, ``amp`` (default on) runs the network in
    ``amp_dtype``. ``channels_last`` None: on for CPU, where it measured 15-40 % faster
    (benchmarks/RESULTS.md, "Engine"), off elsewhere until measured. ``torch_compile`` may
    speed the network up further at the cost of a slow first call (about 40 s on 2 CPU
    cores, 1.7× faster after: worth it from about 100 Mvoxel on CPU).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tile: Triple | None = None
    overlap: Triple | None = None
    batch_size: int | None = Field(None, ge=1, le=4096)
    device: str = "auto"
    amp: bool | None = None
    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    channels_last: bool | None = None
    torch_compile: bool = False
    output_dtype: Literal["same", "float32"] = "same"

    @model_validator(mode="after")
    def _check_tiles(self) -> InferenceConfig:
        if self.tile is not None and min(self.tile) < 1:
            raise ValueError(f"tile sizes must be >= 1, got {self.tile}")
        if self.overlap is not None and min(self.overlap) < 0:
            raise ValueError(f"overlaps must be >= 0, got {self.overlap}")
        if self.tile is not None:
            check_batch_voxels(self.tile, self.batch_size or DEFAULT_BATCH_SIZE)
        return self

    def resolved_tiling(self, window: int, shape: tuple[int, int, int]) -> tuple[Triple, Triple]:
        """Tile and overlap for a (Z, Y, X) volume of ``shape``, with defaults filled in.

        The default in-plane tile is at most ``DEFAULT_TILE_YX``, shrunk so that its tiles
        cover the plane evenly (``geometry.fitted_tile``); a given ``tile`` is kept as it is.
        Overlap must be below the tile size.
        """
        tile = self.tile or (window, DEFAULT_TILE_YX, DEFAULT_TILE_YX)
        overlap = self.overlap or (tile[0] // 2, min(32, tile[1] // 2), min(32, tile[2] // 2))
        if self.tile is None:
            planes = zip(shape[1:], tile[1:], overlap[1:], strict=True)
            tile = (tile[0], *(fitted_tile(n, t, o) for n, t, o in planes))
        for axis, t, o in zip("zyx", tile, overlap, strict=True):
            if o >= t:
                raise ValueError(f"overlap along {axis} ({o}) must be smaller than the tile ({t})")
        check_batch_voxels(tile, self.batch_size or DEFAULT_BATCH_SIZE)
        return tile, overlap

    def resolved_dtype(self, input_dtype: np.dtype) -> np.dtype:
        """The dtype written for an input of ``input_dtype``."""
        return np.dtype(np.float32) if self.output_dtype == "float32" else np.dtype(input_dtype)
