"""Restoration of a key-slice acquisition (slow key slices every ``period`` slices).

Windows of ``period + 1`` slices are placed so that key slices sit at their borders::

    z:       0  1  2  3  4  5  6  7  8  9
    keys:          K           K              (period 4, key offset 2)
    windows: [0 ......... 4]                  leading slices: window at the volume start
                   [2 ......... 6]            key-aligned window (its prediction wins)
                            [5 ......... 9]   trailing slices: window at the volume end

The interior slices of each window come from the network; key slices are copied from the
input unchanged. Slices outside the first and last key are restored from a window aligned to
the volume edge (they have a key slice on one side only). In-plane tiling and blending are
those of ``vemrestore.restore``.
"""

from __future__ import annotations

import numpy as np

from vemrestore.api import ModelSource, restore
from vemrestore.config import InferenceConfig
from vemrestore.tasks.key_slices import key_positions


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


def restore_key_slices(
    volume: np.ndarray,
    model: ModelSource,
    period: int = 4,
    key_offset: int = 0,
    config: InferenceConfig | None = None,
) -> np.ndarray:
    """Restore a (Z, Y, X) key-slice acquisition; key slices are passed through unchanged.

    ``model`` is a checkpoint trained in key-slice mode with the same ``period`` (window
    ``period + 1``), a loaded ``Checkpoint`` or a module. Returns the input's dtype.
    """
    volume = np.asarray(volume)
    window = period + 1
    base = config or InferenceConfig()
    tile_yx = base.tile[1:] if base.tile else (256, 256)
    overlap_yx = base.overlap[1:] if base.overlap else tuple(min(32, t // 2) for t in tile_yx)
    tiling = base.model_copy(update={"tile": (window, *tile_yx), "overlap": (0, *overlap_yx)})
    keys = key_positions(volume.shape[0], period, key_offset)
    output = np.empty_like(volume)
    filled = np.zeros(volume.shape[0], dtype=bool)
    # key-aligned windows first; edge windows only fill what those leave
    starts = key_slice_windows(volume.shape[0], period, key_offset)
    for start in sorted(starts, key=lambda s: s not in set(keys.tolist())):
        restored = restore(volume[start : start + window], model, tiling)
        todo = ~filled[start : start + window]
        output[start : start + window][todo] = restored[todo]
        filled[start : start + window] = True
    output[keys] = volume[keys]
    return output
