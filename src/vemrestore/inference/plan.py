"""Which restoration a checkpoint needs, and how its volume is tiled.

The one place that decides between the four ways a volume is restored, for the API, the
command line and the napari widgets alike:

- ``full``: the volume as it is, tile by tile (``inference.modes.restore_full``);
- ``sublattice``: the four 2×2 sub-lattices at half resolution, re-interleaved (a
  self-supervised model trained that way asks for it);
- ``key_slices``: a key-slice acquisition, key slices passed through (a key-slice model's
  period, or the caller's);
- ``blocks``: block-wise on Dask, where the caller allows it and the input and output can be
  read and written by region.

It also owns the tiling defaults (``InferenceConfig.resolved_tiling``) as they apply to each
mode, and the check that the tile depth suits the model's window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from vemrestore.config import InferenceConfig
from vemrestore.config.restoration import RestorationSpec
from vemrestore.errors import VemRestoreError
from vemrestore.geometry import TileGrid

Mode = Literal["full", "sublattice", "key_slices", "blocks"]

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class RestorationPlan:
    """How one volume is restored. ``key_period``/``key_offset`` apply to ``key_slices`` only;
    ``period_from_model``: the period is the one the model was trained with (not given)."""

    mode: Mode
    key_period: int | None = None
    key_offset: int = 0
    period_from_model: bool = False


def plan_restoration(
    restoration: RestorationSpec,
    *,
    sublattice: bool | None = None,
    key_period: int | None = None,
    key_offset: int = 0,
    blocks_possible: Callable[[], bool] | None = None,
    block_settings: bool = False,
) -> RestorationPlan:
    """The plan for a model described by ``restoration``.

    ``sublattice``: force (True) or forbid (False) sub-lattice restoration, None: the model's
    mode. ``key_period``: restore a key-slice acquisition with this period, None: the model's
    (if it is a key-slice model). ``blocks_possible``: asked, only when nothing else decided,
    whether block-wise restoration applies (None: never). ``block_settings``: the caller set
    block-run settings, which are refused where no block run happens.
    """
    if sublattice or (sublattice is None and restoration.inference == "sublattice"):
        if block_settings:
            raise VemRestoreError("sub-lattice restoration runs in one process (no blocks)")
        return RestorationPlan("sublattice")
    period = key_period if key_period is not None else restoration.key_period
    if period is not None:
        mode: Mode = "key_slices"
    elif blocks_possible is not None and blocks_possible():
        return RestorationPlan("blocks")
    else:
        mode = "full"
    if block_settings:
        raise VemRestoreError(
            "--workers, --memory-per-worker, --scheduler, --block and --chunks apply only "
            "to a .zarr OUTPUT from a Zarr or uncompressed TIFF INPUT, without key slices"
        )
    if mode == "full":
        return RestorationPlan("full")
    return RestorationPlan(
        "key_slices",
        key_period=period,
        key_offset=key_offset,
        period_from_model=key_period is None,
    )


def tile_grid(shape: Triple, restoration: RestorationSpec, config: InferenceConfig) -> TileGrid:
    """The tile grid ``config`` asks for over a (Z, Y, X) volume, checked against the model."""
    window = restoration.window
    tile, overlap = _resolved(config, window, shape)
    if tile[0] != window and not restoration.any_window:
        raise VemRestoreError(
            f"tiling: this model restores windows of exactly {window} slices; "
            f"use a tile depth of {window} (got {tile[0]})"
        )
    return TileGrid.plan(shape, tile, overlap)


def key_window_tiling(shape: Triple, window: int, config: InferenceConfig) -> tuple[Triple, Triple]:
    """Tile and overlap of each key-slice window (``window`` slices, whole in z).

    A key-slice window is never split or overlapped along z, so a ``config`` asking for
    another tile depth or a z overlap is refused rather than silently ignored.
    """
    if config.tile is not None and config.tile[0] != window:
        raise VemRestoreError(
            f"tiling: key-slice restoration runs whole windows of {window} slices; "
            f"use a tile depth of {window} (got {config.tile[0]})"
        )
    if config.overlap is not None and config.overlap[0] != 0:
        raise VemRestoreError(
            f"tiling: key-slice windows do not overlap along z; use a z overlap of 0 "
            f"(got {config.overlap[0]})"
        )
    tile, overlap = _resolved(config, window, shape)
    return (window, *tile[1:]), (0, *overlap[1:])


def _resolved(config: InferenceConfig, window: int, shape: Triple) -> tuple[Triple, Triple]:
    try:
        return config.resolved_tiling(window, shape)
    except ValueError as error:
        raise VemRestoreError(f"tiling: {error}") from None
