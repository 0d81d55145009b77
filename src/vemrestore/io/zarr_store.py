"""Zarr v3 and OME-Zarr (v0.4 and v0.5) volumes, read by region and written z-chunk by z-chunk."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import (
    VolumeReader,
    VolumeSpec,
    VoxelSize,
    checked_slices,
    error_reason,
    nm_per_unit,
    validate_volume_shape,
)

DEFAULT_CHUNKS = (8, 512, 512)
OME_VERSION = "0.5"
SPATIAL_AXES = ("z", "y", "x")


def _multiscale(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The first multiscale image description: v0.5 nests it under "ome", v0.4 does not."""
    ome = attributes.get("ome")
    multiscales = (ome if isinstance(ome, dict) else attributes).get("multiscales")
    if isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict):
        return multiscales[0]
    return None


def _scale(transformations: object) -> list[float] | None:
    """The "scale" transformation's factors; None when absent or malformed."""
    for transformation in transformations if isinstance(transformations, list) else []:
        if isinstance(transformation, dict) and transformation.get("type") == "scale":
            try:
                return [float(value) for value in transformation["scale"]]
            except (KeyError, TypeError, ValueError):
                return None
    return None


def ome_voxel_size(multiscale: dict[str, Any], dataset_path: str) -> VoxelSize | None:
    """(z, y, x) size in nm of one dataset, from its scale (times any multiscale-wide scale).

    None when the dataset has no scale, there are not three spatial axes, or a unit is unknown.
    """
    axes = multiscale.get("axes")
    datasets = multiscale.get("datasets") or []
    dataset = next(
        (item for item in datasets if isinstance(item, dict) and item.get("path") == dataset_path),
        None,
    )
    scale = _scale(dataset.get("coordinateTransformations")) if dataset else None
    if not isinstance(axes, list) or scale is None or len(scale) != len(axes):
        return None
    overall = _scale(multiscale.get("coordinateTransformations"))
    if overall is not None and len(overall) == len(scale):
        scale = [value * factor for value, factor in zip(scale, overall, strict=True)]
    spatial = [
        (axis, value)
        for axis, value in zip(axes, scale, strict=True)
        if isinstance(axis, dict)
        and (axis.get("type") == "space" or axis.get("name") in SPATIAL_AXES)
    ]
    factors = [nm_per_unit(axis.get("unit")) for axis, _ in spatial]
    if len(spatial) != 3 or None in factors:
        return None
    z_nm, y_nm, x_nm = (value * factor for (_, value), factor in zip(spatial, factors, strict=True))
    if not all(math.isfinite(size) and size > 0 for size in (z_nm, y_nm, x_nm)):
        return None  # a zero, negative or infinite scale describes no voxel size
    return (z_nm, y_nm, x_nm)


def _array_names(group: zarr.Group) -> list[str]:
    with warnings.catch_warnings():
        # Foreign folders (e.g. the resume markers of an unfinished restoration) are not arrays.
        warnings.filterwarnings("ignore", "Object at .* is not recognized", UserWarning)
        members = group.members(max_depth=None)
    return sorted(name for name, node in members if isinstance(node, zarr.Array))


def _select_array(
    path: Path, group: zarr.Group, name: str | None, multiscale: dict[str, Any] | None
) -> tuple[zarr.Array, str]:
    """The array to read: the named one, else the highest resolution level, else the only one."""
    available = _array_names(group)
    if name is None and multiscale is not None:
        datasets = multiscale.get("datasets")
        first = datasets[0] if isinstance(datasets, list) and datasets else None
        if not isinstance(first, dict):
            raise VemRestoreError(f"{path}: OME-Zarr metadata has no list of datasets")
        name = str(first.get("path"))
        if name not in available:
            raise VemRestoreError(
                f"{path}: OME-Zarr metadata names dataset '{name}', which is not in the store "
                f"(available: {', '.join(available) or 'none'})"
            )
    if name is not None:
        if name not in available:
            raise VemRestoreError(
                f"{path}: no array named '{name}' (available: {', '.join(available) or 'none'})"
            )
        return group[name], name
    if len(available) == 1:
        return group[available[0]], available[0]
    if not available:
        raise VemRestoreError(f"{path}: the Zarr group contains no arrays")
    raise VemRestoreError(
        f"{path}: the Zarr group contains several arrays ({', '.join(available)}); "
        "choose one with --array"
    )


class ZarrReader(VolumeReader):
    """A Zarr array, a group with one array, a named array, or an OME-Zarr image.

    Leading axes of size 1 (OME-Zarr's t and c) are dropped so (1, 1, Z, Y, X) reads as 3D.
    """

    block_readable = True

    def __init__(self, path: Path, array: str | None = None) -> None:
        self.name = str(path)
        try:
            node = zarr.open(store=str(path), mode="r")
        except Exception as error:
            raise VemRestoreError(
                f"{path}: not a readable Zarr store ({error_reason(error)})"
            ) from None
        try:
            self._describe(Path(path), node, array)
        except VemRestoreError:
            raise
        except Exception as error:  # zarr parses member metadata lazily, on first access
            raise VemRestoreError(
                f"{path}: malformed Zarr metadata ({error_reason(error)})"
            ) from None

    def _describe(self, path: Path, node: zarr.Array | zarr.Group, array: str | None) -> None:
        voxel_size: VoxelSize | None = None
        self.format = "zarr"
        if isinstance(node, zarr.Array):
            if array is not None:
                raise VemRestoreError(f"{path}: is a single array, not a group; drop --array")
            self._array = node
        else:
            multiscale = _multiscale(dict(node.attrs))
            self._array, selected = _select_array(path, node, array, multiscale)
            if multiscale is not None:
                self.format = "ome-zarr"
                voxel_size = ome_voxel_size(multiscale, selected)
        shape = tuple(int(size) for size in self._array.shape)
        extra = len(shape) - 3
        self._prefix: tuple[int, ...] = ()
        if extra > 0 and all(size == 1 for size in shape[:extra]):
            self._prefix, shape = (0,) * extra, shape[extra:]
        self._flat = len(shape) == 2
        if self._flat:
            shape = (1, *shape)
        dtype = np.dtype(self._array.dtype).newbyteorder("=")
        validate_volume_shape(self.name, shape, dtype)
        self.spec = VolumeSpec(shape, dtype, voxel_size)
        chunks = tuple(int(size) for size in self._array.chunks)
        self.chunks = (1, *chunks) if self._flat else chunks[-3:]

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        try:
            if self._flat:
                region = np.asarray(self._array[y, x])[np.newaxis][z]
            else:
                region = np.asarray(self._array[(*self._prefix, z, y, x)])
        except Exception as error:
            raise VemRestoreError(
                f"{self.name}: cannot read region z={z.start}:{z.stop} ({error_reason(error)})"
            ) from None
        return region.astype(self.dtype, copy=False)


def ome_metadata(voxel_size: VoxelSize | None) -> dict[str, Any]:
    """OME-Zarr v0.5 group attributes for a single-level (z, y, x) image in nm.

    An unknown voxel size stays unknown: axes without a unit and a scale of 1 (pixels), which
    readers (this one too) do not take for a size in nm.
    """
    unit = {} if voxel_size is None else {"unit": "nanometer"}
    return {
        "ome": {
            "version": OME_VERSION,
            "multiscales": [
                {
                    "axes": [{"name": axis, "type": "space", **unit} for axis in SPATIAL_AXES],
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": list(voxel_size or (1.0, 1.0, 1.0))}
                            ],
                        }
                    ],
                }
            ],
        }
    }


def write_ome_zarr(
    path: Path,
    slices: Iterable[np.ndarray],
    spec: VolumeSpec,
    chunks: tuple[int, int, int] | None = None,
) -> None:
    """Write an OME-Zarr v0.5 image, one full z-chunk slab at a time.

    Slabs align with chunk boundaries, so every chunk is written once and never read back;
    memory is one slab of ``chunks[0]`` slices.
    """
    chunk_shape = tuple(
        max(1, min(int(size), extent))
        for size, extent in zip(chunks or DEFAULT_CHUNKS, spec.shape, strict=True)
    )
    group = zarr.open_group(
        store=str(path), mode="w-", zarr_format=3, attributes=ome_metadata(spec.voxel_size)
    )
    array = group.create_array(
        "0", shape=spec.shape, dtype=spec.dtype, chunks=chunk_shape, dimension_names=SPATIAL_AXES
    )
    depth = spec.shape[0]
    slab = np.empty((chunk_shape[0], *spec.shape[1:]), dtype=spec.dtype)
    start = filled = 0
    for image in checked_slices(slices, spec):
        slab[filled] = image
        filled += 1
        if filled == chunk_shape[0] or start + filled == depth:
            array[start : start + filled] = slab[:filled]
            start, filled = start + filled, 0
