"""Slices a microscope is still writing into a folder: which have fully arrived, and a reader.

A slice has arrived when its size and modification time have stayed the same for
``settle_seconds`` and it decodes as a whole image (for TIFF: every strip or tile lies inside
the file). Slices are taken in natural file-name order, as a slice folder is read, and only as
an unbroken prefix: slice 7 is not used before slice 6 has arrived.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import VolumeReader, VolumeSpec, VoxelSize, error_reason
from vemrestore.io.slices import TIFF_SLICE_SUFFIXES, list_slice_files
from vemrestore.io.tiff import read_voxel_size


@dataclass(frozen=True)
class SliceFormat:
    """What every slice of a stack shares: (Y, X) shape, dtype and voxel size (nm, or None)."""

    shape: tuple[int, int]
    dtype: np.dtype
    voxel_size: VoxelSize | None


@dataclass
class _Observation:
    size: int
    mtime_ns: int
    since: float


class SliceArrivals:
    """Follows a folder being filled with slices; ``poll`` accepts the ones that have arrived.

    Decoded slices are kept in a small cache (``cache_slices``), so the restoration that
    follows an arrival does not decode the file again.
    """

    def __init__(
        self,
        folder: Path,
        settle_seconds: float = 0.5,
        cache_slices: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise VemRestoreError(f"{self.folder}: input folder not found")
        self.settle_seconds = settle_seconds
        self.files: list[Path] = []
        self.format: SliceFormat | None = None
        self._clock = clock
        self._observed: dict[Path, _Observation] = {}
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_slices = cache_slices

    def poll(self) -> int:
        """Accept every newly arrived slice that extends the prefix; return the prefix length."""
        try:
            listing = list_slice_files(self.folder)
        except OSError as error:
            raise VemRestoreError(
                f"{self.folder}: cannot list the folder ({error_reason(error)})"
            ) from None
        accepted = len(self.files)
        if listing[:accepted] != self.files:
            missing = next(p for p, q in zip(self.files, listing, strict=False) if p != q)
            raise VemRestoreError(
                f"{missing}: slice order changed while watching (a file was removed, renamed or "
                "added before slices already restored); restart with a fresh output"
            )
        for path in listing[accepted:]:
            image = self._arrived(path)
            if image is None:
                break
            self._accept(path, image)
        return len(self.files)

    def waiting(self) -> list[Path]:
        """Slice files present but not (yet) accepted: still being written, or unreadable."""
        return list_slice_files(self.folder)[len(self.files) :]

    def stalled_seconds(self) -> float | None:
        """How long the first waiting file has stayed unchanged yet unreadable (None: none waits).

        A file that appeared since the last ``poll`` counts as just changed.
        """
        waiting = self.waiting()
        if not waiting:
            return None
        seen = self._observed.get(waiting[0])
        return 0.0 if seen is None else self._clock() - seen.since

    def reader(self) -> VolumeReader:
        """A reader over the slices accepted so far (a fixed snapshot)."""
        if self.format is None:
            raise VemRestoreError(f"{self.folder}: no slice has arrived yet")
        return _ArrivedSlicesReader(self, len(self.files))

    def _arrived(self, path: Path) -> np.ndarray | None:
        try:
            status = path.stat()
        except OSError:
            return None
        now = self._clock()
        seen = self._observed.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (status.st_size, status.st_mtime_ns):
            self._observed[path] = _Observation(status.st_size, status.st_mtime_ns, now)
            if self.settle_seconds > 0:
                return None
            seen = self._observed[path]
        if now - seen.since < self.settle_seconds:
            return None
        return _read_whole(path, status.st_size)

    def _accept(self, path: Path, image: np.ndarray) -> None:
        if image.ndim != 2:
            raise VemRestoreError(
                f"{path}: expected a 2D greyscale slice, got shape {image.shape} "
                "(RGB, multi-channel and multi-page slices are not supported)"
            )
        dtype = image.dtype.newbyteorder("=")
        if self.format is None:
            self.format = SliceFormat(image.shape, dtype, _voxel_size(path))
        elif (image.shape, dtype) != (self.format.shape, self.format.dtype):
            raise VemRestoreError(
                f"{path}: slice is {image.shape} {dtype}, but {self.files[0].name} is "
                f"{self.format.shape} {self.format.dtype}; all slices must match"
            )
        self._observed.pop(path, None)
        self._cache[len(self.files)] = image.astype(dtype, copy=False)
        while len(self._cache) > self._cache_slices:
            self._cache.popitem(last=False)
        self.files.append(path)

    def slice(self, z: int) -> np.ndarray:
        """Accepted slice ``z`` as a (Y, X) array, from the cache or the file."""
        cached = self._cache.get(z)
        if cached is not None:
            return cached
        image = _read_whole(self.files[z], self.files[z].stat().st_size)
        if image is None:
            raise VemRestoreError(f"{self.files[z]}: slice changed after it was restored")
        return image


class _ArrivedSlicesReader(VolumeReader):
    format = "slices"

    def __init__(self, arrivals: SliceArrivals, depth: int) -> None:
        shape = arrivals.format.shape
        self.name = str(arrivals.folder)
        self.spec = VolumeSpec((depth, *shape), arrivals.format.dtype, arrivals.format.voxel_size)
        self._arrivals = arrivals

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        return np.stack([self._arrivals.slice(i)[y, x] for i in range(*z.indices(self.shape[0]))])


def _read_whole(path: Path, size: int) -> np.ndarray | None:
    """The image in ``path``, or None while it is incomplete (truncated or undecodable)."""
    try:
        if path.suffix.lower() in TIFF_SLICE_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)]
                if not ends or max(ends) > size or 0 in page.databytecounts:
                    return None
                return tif.series[0].asarray()
        return iio.imread(path)
    except Exception:
        return None


def _voxel_size(path: Path) -> VoxelSize | None:
    if path.suffix.lower() not in TIFF_SLICE_SUFFIXES:
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            return read_voxel_size(tif)
    except Exception as error:
        raise VemRestoreError(f"{path}: cannot read slice ({error_reason(error)})") from None
