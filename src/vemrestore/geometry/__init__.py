"""Tiling geometry: where tiles go and how their predictions are weighted."""

from vemrestore.geometry.tiling import (
    AxisTiling,
    TileGrid,
    blend_profile,
    fitted_tile,
    reflect_indices,
    settled_prefix,
)

__all__ = [
    "AxisTiling",
    "TileGrid",
    "blend_profile",
    "fitted_tile",
    "reflect_indices",
    "settled_prefix",
]
