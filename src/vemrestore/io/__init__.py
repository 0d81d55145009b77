"""Volume input and output: the one place that maps paths to formats.

Readers give region-by-region access (``open_volume``); writers consume slices one at a time
and leave either a complete output or nothing (``write_volume``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vemrestore.errors import VemRestoreError
from vemrestore.io.atomic import atomic_output, check_not_input, check_output_path
from vemrestore.io.base import ArrayReader, VolumeReader, VolumeSpec, VoxelSize
from vemrestore.io.hdf5 import (
    HDF5_SUFFIXES,
    Hdf5Reader,
    is_hdf5,
    split_dataset_path,
    write_hdf5,
)
from vemrestore.io.mrc import MRC_SUFFIXES, MrcReader
from vemrestore.io.slices import SliceFolderReader, check_slice_format, write_slice_folder
from vemrestore.io.tiff import TiffReader, write_tiff
from vemrestore.io.zarr_store import ZarrReader, write_ome_zarr
from vemrestore.types import PathLike

__all__ = [
    "ArrayReader",
    "OutputFormat",
    "SliceFolderReader",
    "TiffReader",
    "VolumeReader",
    "VolumeSpec",
    "VoxelSize",
    "ZarrReader",
    "check_not_input",
    "check_output",
    "describe",
    "open_volume",
    "output_format",
    "write_volume",
]

OutputFormat = Literal["tiff", "zarr", "hdf5", "slices"]

TIFF_SUFFIXES = (".tif", ".tiff")
ZARR_SUFFIX = ".zarr"
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")
"""Files that make a folder a Zarr store (v3, v2 group, v2 array) whatever its name."""

DESCRIBE_SLAB_BYTES = 64 * 2**20
"""Memory budget for one slab while ``describe`` scans the value range."""


def open_volume(
    path: PathLike, array: str | None = None, *, allow_gaps: bool = False
) -> VolumeReader:
    """Open a TIFF, Zarr/OME-Zarr store, HDF5 dataset (``file.h5:/dataset``), MRC file or
    slice folder; ``array`` picks one inside a Zarr group.

    ``allow_gaps`` reads a slice folder whose numbers have gaps or duplicates in name order.
    """
    if is_hdf5(str(path)):
        file, dataset = split_dataset_path(str(path))
        if not file.is_file():
            raise VemRestoreError(f"{file}: file not found")
        if array is not None:
            raise VemRestoreError(f"{path}: --array applies only to Zarr stores")
        return Hdf5Reader(file, dataset)
    path = Path(path)
    if not path.exists():
        raise VemRestoreError(f"{path}: file not found")
    suffix = path.suffix.lower()
    is_zarr = suffix == ZARR_SUFFIX or (
        path.is_dir() and any((path / marker).is_file() for marker in ZARR_MARKERS)
    )
    if array is not None and not is_zarr:
        raise VemRestoreError(f"{path}: --array applies only to Zarr stores")
    if suffix in TIFF_SUFFIXES:
        return TiffReader(path)
    if suffix in MRC_SUFFIXES:
        return MrcReader(path)
    if is_zarr:
        return ZarrReader(path, array)
    if path.is_dir():
        return SliceFolderReader(path, allow_gaps)
    raise VemRestoreError(
        f"{path}: unsupported format '{suffix or '(no extension)'}' (expected a .tif/.tiff file, "
        "a .zarr store, an .h5 or .mrc file, or a folder of .tif/.png slices)"
    )


def output_format(path: PathLike) -> OutputFormat:
    """The format an output path asks for: by suffix, and no suffix means a slice folder."""
    suffix = Path(path).suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix == ZARR_SUFFIX:
        return "zarr"
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    if not suffix:
        return "slices"
    raise VemRestoreError(
        f"{path}: unsupported output format '{suffix}' (expected a .tif/.tiff file, a .zarr "
        "store, an .h5 file, or a folder name without extension for slices)"
    )


def check_output(path: PathLike, overwrite: bool, inputs: Sequence[PathLike] = ()) -> OutputFormat:
    """The format ``path`` asks for, after refusing an unknown suffix, an output that is, holds
    or lies inside one of ``inputs``, an existing output (unless ``overwrite`` and it is a
    vemrestore output) or a missing parent folder: callers run it before costly work."""
    fmt = output_format(path)
    check_output_path(Path(path), overwrite, [Path(p) for p in inputs])
    return fmt


def write_volume(
    path: PathLike,
    slices: Iterable[np.ndarray],
    spec: VolumeSpec,
    *,
    overwrite: bool = False,
    slice_suffix: str = ".tif",
    chunks: tuple[int, int, int] | None = None,
    inputs: Sequence[PathLike] = (),
) -> Path:
    """Write ``spec.shape[0]`` slices to ``path`` in the format its name asks for.

    Every check that can fail on the path runs before the first slice is pulled (slices are
    often expensive to compute), and the output appears only once complete: an error or
    Ctrl-C midway leaves neither the output nor a temporary file. ``inputs``: the files the
    slices come from, which the output may not be, hold or lie inside (``check_output``).
    """
    path = Path(path)
    sources = [Path(p) for p in inputs]
    fmt = check_output(path, overwrite, sources)
    if fmt == "slices":
        check_slice_format(path, spec, slice_suffix)
    with atomic_output(path, overwrite, sources) as temporary:
        if fmt == "tiff":
            write_tiff(temporary, slices, spec)
        elif fmt == "zarr":
            write_ome_zarr(temporary, slices, spec, chunks)
        elif fmt == "hdf5":
            write_hdf5(temporary, slices, spec)
        else:
            write_slice_folder(temporary, slices, spec, slice_suffix)
    return path


def describe(reader: VolumeReader) -> dict[str, Any]:
    """What ``vemrestore info`` shows: layout, voxel size and value range.

    The range is scanned slab by slab (memory bounded by ``DESCRIBE_SLAB_BYTES``). Float NaN
    and inf are counted rather than refused, since finding them is a reason to run ``info``.
    """
    low, high, nonfinite = _value_range(reader)
    return {
        "name": reader.name,
        "format": reader.format,
        "shape": reader.shape,
        "dtype": str(reader.dtype),
        "voxel_size_nm": reader.spec.voxel_size,
        "chunks": reader.chunks,
        "min": low,
        "max": high,
        "nonfinite_voxels": nonfinite,
    }


def _value_range(reader: VolumeReader) -> tuple[float | int | None, float | int | None, int]:
    depth, height, width = reader.shape
    slab_depth = max(1, DESCRIBE_SLAB_BYTES // (height * width * reader.dtype.itemsize))
    low = high = None
    nonfinite = 0
    for start in range(0, depth, slab_depth):
        # _read, not read: read() refuses NaN/inf, which info should report instead.
        slab = np.asarray(reader._read(slice(start, start + slab_depth), slice(None), slice(None)))
        if slab.dtype.kind == "f":
            finite = np.isfinite(slab)
            nonfinite += int(slab.size - np.count_nonzero(finite))
            slab = slab[finite]
        if slab.size:
            slab_low, slab_high = slab.min().item(), slab.max().item()
            low = slab_low if low is None else min(low, slab_low)
            high = slab_high if high is None else max(high, slab_high)
    return low, high, nonfinite
