"""A folder of 2D slices (.tif/.tiff/.png), one file per z, in natural file-name order."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile
from natsort import natsorted

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import (
    VolumeReader,
    VolumeSpec,
    VoxelSize,
    checked_slices,
    error_reason,
    validate_volume_shape,
)
from vemrestore.io.tiff import read_voxel_size, write_tiff_slice

TIFF_SLICE_SUFFIXES = (".tif", ".tiff")
SLICE_SUFFIXES = (*TIFF_SLICE_SUFFIXES, ".png")
PNG_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def list_slice_files(folder: Path) -> list[Path]:
    """Slice files in z order: natural sort, so ``s2`` comes before ``s10``.

    Hidden files (e.g. macOS ``._s1.tif`` resource forks) are not slices.
    """
    candidates = (
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in SLICE_SUFFIXES
        and not entry.name.startswith(".")
        and entry.is_file()
    )
    return natsorted(candidates, key=lambda entry: entry.name)


def check_slice_numbers(folder: Path, files: list[Path]) -> None:
    """Refuse slice numbers with a gap (0, 1, 3) or a duplicate (``s1``, ``s01``).

    Either means a missing or doubled section, which would silently shift everything after
    it in z. The number is the last run of digits in each name; names without one, or a
    single slice, are not checked.
    """
    numbers = [re.findall(r"\d+", path.stem) for path in files]
    if len(files) < 2 or not all(numbers):
        return
    values = [int(found[-1]) for found in numbers]
    seen: dict[int, Path] = {}
    for path, value in zip(files, values, strict=True):
        if value in seen:
            raise VemRestoreError(
                f"{folder}: {seen[value].name} and {path.name} both number slice {value}; "
                "remove one, or pass --allow-gaps to read every file in name order"
            )
        seen[value] = path
    ordered = sorted(values)
    step = min(b - a for a, b in itertools.pairwise(ordered))
    for (a, path_a), (b, _) in itertools.pairwise(sorted(seen.items())):
        if b - a != step:
            raise VemRestoreError(
                f"{folder}: slice numbers jump from {a} ({path_a.name}) to {b}; a section is "
                "missing? Rename the slices, or pass --allow-gaps to read them in name order"
            )


def _slice_header(path: Path) -> tuple[tuple[int, ...], np.dtype, VoxelSize | None]:
    """Shape, dtype and voxel size of one slice, read without decoding its pixels."""
    try:
        if path.suffix.lower() in TIFF_SLICE_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, dtype, voxel_size = series.shape, series.dtype, read_voxel_size(tif)
        else:
            properties = iio.improps(path)
            shape, dtype, voxel_size = properties.shape, properties.dtype, None
    except Exception as error:
        raise VemRestoreError(f"{path}: cannot read slice ({error_reason(error)})") from None
    if len(shape) != 2:
        raise VemRestoreError(
            f"{path}: expected a 2D greyscale slice, got shape {tuple(shape)} "
            "(RGB, multi-channel and multi-page slices are not supported)"
        )
    return tuple(int(size) for size in shape), np.dtype(dtype).newbyteorder("="), voxel_size


def _read_slice(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() in TIFF_SLICE_SUFFIXES:
            return tifffile.imread(path)
        return iio.imread(path)
    except Exception as error:
        raise VemRestoreError(f"{path}: cannot decode slice ({error_reason(error)})") from None


class SliceFolderReader(VolumeReader):
    """A folder of equally sized 2D slices; a z-range read opens only those files.

    Slice numbers with gaps or duplicates are refused unless ``allow_gaps``
    (``check_slice_numbers``).
    """

    format = "slices"

    def __init__(self, folder: Path, allow_gaps: bool = False) -> None:
        self.name = str(folder)
        try:
            self.files = list_slice_files(Path(folder))
        except OSError as error:
            raise VemRestoreError(
                f"{folder}: cannot list the folder ({error_reason(error)})"
            ) from None
        if not self.files:
            raise VemRestoreError(f"{folder}: empty folder, no .tif/.tiff/.png slices found")
        if not allow_gaps:
            check_slice_numbers(Path(folder), self.files)
        headers = [_slice_header(path) for path in self.files]
        shape, dtype, _ = headers[0]
        for path, (other_shape, other_dtype, _) in zip(self.files, headers, strict=True):
            if (other_shape, other_dtype) != (shape, dtype):
                raise VemRestoreError(
                    f"{path}: slice is {other_shape} {other_dtype}, but {self.files[0].name} "
                    f"is {shape} {dtype}; all slices must match"
                )
        volume_shape = (len(self.files), *shape)
        validate_volume_shape(self.name, volume_shape, dtype)
        voxel_size = next((header[2] for header in headers if header[2] is not None), None)
        self.spec = VolumeSpec(
            volume_shape, dtype, voxel_size, slice_names=tuple(path.stem for path in self.files)
        )

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        paths = self.files[z]
        height = len(range(*y.indices(self.shape[1])))
        width = len(range(*x.indices(self.shape[2])))
        region = np.empty((len(paths), height, width), dtype=self.dtype)
        for index, path in enumerate(paths):
            region[index] = _read_slice(path)[y, x]
        return region


def check_slice_format(path: Path, spec: VolumeSpec, suffix: str) -> None:
    """Refuse a slice suffix we cannot write, or data that PNG cannot hold, before writing."""
    if suffix.lower() not in SLICE_SUFFIXES:
        raise VemRestoreError(
            f"{path}: unsupported slice format '{suffix}' (expected .tif, .tiff or .png)"
        )
    if suffix.lower() == ".png" and np.dtype(spec.dtype) not in PNG_DTYPES:
        raise VemRestoreError(
            f"{path}: PNG slices hold uint8 or uint16 only, not {np.dtype(spec.dtype)} "
            "(write .tif slices instead)"
        )


def write_slice_folder(
    path: Path, slices: Iterable[np.ndarray], spec: VolumeSpec, suffix: str = ".tif"
) -> None:
    """Create ``path`` and write its slices one at a time: ``spec.slice_names`` when given
    (the input folder's names), else ``slice_00000.tif``...

    Numbers are zero-padded to the width the slice count needs, so plain and natural sorting
    agree. TIFF slices carry the voxel size; PNG cannot.
    """
    check_slice_format(path, spec, suffix)
    path.mkdir()
    width = max(5, len(str(spec.shape[0] - 1)))
    names = spec.slice_names
    if names is None or len(names) != spec.shape[0]:
        names = tuple(f"slice_{index:0{width}d}" for index in range(spec.shape[0]))
    for name, image in zip(names, checked_slices(slices, spec), strict=False):
        target = path / f"{name}{suffix}"
        if suffix.lower() in TIFF_SLICE_SUFFIXES:
            write_tiff_slice(target, image, spec.voxel_size)
        else:
            iio.imwrite(target, image)
