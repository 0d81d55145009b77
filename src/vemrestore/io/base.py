"""The reader interface every format implements, and the volume description shared by all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType

import numpy as np
import psutil

from vemrestore.errors import VemRestoreError

VoxelSize = tuple[float, float, float]
"""Voxel size as (z, y, x) in nanometres."""

SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


@dataclass(frozen=True)
class VolumeSpec:
    """What a writer needs to know before the first slice arrives.

    ``shape`` is (Z, Y, X); ``voxel_size`` is (z, y, x) in nm, or None when unknown.
    ``slice_names``: the input's slice file names without suffix, one per slice, so that a
    restored slice folder keeps the microscope's names (``Run3_z101``); None: numbered. Names
    are not part of what makes two specs equal.
    """

    shape: tuple[int, int, int]
    dtype: np.dtype
    voxel_size: VoxelSize | None = None
    slice_names: tuple[str, ...] | None = field(default=None, compare=False)

    def restored_as(self, dtype: np.dtype, *, voxel_size: VoxelSize | None = None) -> VolumeSpec:
        """The spec of this volume's restoration: ``dtype``, and ``voxel_size`` if given
        (``--voxel-size``: the input's is missing or wrong); slice names kept."""
        return replace(self, dtype=dtype, voxel_size=voxel_size or self.voxel_size)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


class VolumeReader(ABC):
    """Region-by-region read access to a (Z, Y, X) volume, so memory stays bounded by the region.

    Implementations fill ``name``, ``spec``, ``chunks`` and ``format`` and implement ``_read``.
    ``read`` checks float data for NaN/inf, because one non-finite voxel poisons every tile
    that touches it.
    """

    name: str
    spec: VolumeSpec
    chunks: tuple[int, int, int] | None = None
    format: str = "array"
    block_readable: bool = False
    """True when any process that opens the same path can read a region at a cost proportional
    to its size (chunked or memory-mapped files), so blocks can be restored in parallel."""

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.spec.shape

    @property
    def dtype(self) -> np.dtype:
        return self.spec.dtype

    def read(self, z: slice, y: slice = slice(None), x: slice = slice(None)) -> np.ndarray:
        """Return the (z, y, x) region as an array of the volume's dtype (slices with step 1)."""
        data = np.asarray(self._read(z, y, x))
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            first_bad = int(np.argwhere(~np.isfinite(data))[0][0]) + (z.start or 0)
            raise VemRestoreError(
                f"{self.name}: contains NaN or infinite values (first in slice {first_bad}); "
                "replace them before restoring"
            )
        return data

    @abstractmethod
    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        """Return the region without validation."""

    def close(self) -> None:  # noqa: B027 - readers without open handles need nothing
        """Release file handles."""

    def __enter__(self) -> VolumeReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ArrayReader(VolumeReader):
    """A numpy array (or anything sliceable like one, e.g. a memmap) seen through the reader API."""

    format = "array"

    def __init__(
        self, array: np.ndarray, voxel_size: VoxelSize | None = None, name: str = "<array>"
    ) -> None:
        if array.ndim == 2:
            array = array[np.newaxis]
        validate_volume_shape(name, array.shape, array.dtype)
        self._array = array
        self.name = name
        self.spec = VolumeSpec(
            tuple(int(s) for s in array.shape), np.dtype(array.dtype), voxel_size
        )

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        return self._array[z, y, x]


def validate_volume_shape(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Refuse what the engine cannot restore: wrong rank, empty, or an unsupported dtype."""
    if len(shape) != 3:
        raise VemRestoreError(
            f"{name}: expected a 2D image or a 3D (Z, Y, X) volume, got {len(shape)}D data "
            f"of shape {tuple(shape)} (RGB, multi-channel and time series are not supported)"
        )
    if min(shape) == 0:
        raise VemRestoreError(f"{name}: the volume is empty (shape {tuple(shape)})")
    if np.dtype(dtype) not in SUPPORTED_DTYPES:
        raise VemRestoreError(
            f"{name}: unsupported data type {np.dtype(dtype)} (expected uint8, uint16 or float32)"
        )
    slice_bytes = shape[1] * shape[2] * 4  # restoration works on float32 slices
    available = psutil.virtual_memory().available
    if slice_bytes > available // 2:
        raise VemRestoreError(
            f"{name}: one {shape[1]} × {shape[2]} slice needs {slice_bytes / 2**30:.1f} GiB as "
            f"float32, over vemrestore's limit of half the free memory "
            f"({available / 2**31:.1f} GiB); crop it, or use a machine with more memory"
        )


_NM_PER_UNIT = {
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometre": 1.0,
    "nanometers": 1.0,
    "nanometres": 1.0,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "micron": 1e3,
    "microns": 1e3,
    "micrometer": 1e3,
    "micrometre": 1e3,
    "micrometers": 1e3,
    "micrometres": 1e3,
    "mm": 1e6,
    "millimeter": 1e6,
    "millimetre": 1e6,
    "angstrom": 0.1,
    "å": 0.1,
}


def nm_per_unit(unit: object) -> float | None:
    """Nanometres in one ``unit`` (ImageJ or OME spelling), or None for pixels/unknown units."""
    if not isinstance(unit, str):
        return None
    # ImageJ writes the micro sign as the literal text "\u00B5" in its description.
    key = unit.strip().lower().replace("\\u00b5", "µ")
    return _NM_PER_UNIT.get(key)


def error_reason(error: BaseException) -> str:
    """A library exception as one short line, so user messages stay one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def checked_slices(slices: Iterable[np.ndarray], spec: VolumeSpec) -> Iterator[np.ndarray]:
    """Yield the slices, insisting on exactly ``spec.shape[0]`` of shape (Y, X) and ``spec.dtype``.

    A mismatch means the caller's spec and data disagree (a bug, not a user error), so it is a
    ValueError. Writers that stop pulling after the last slice call ``next(stream, None)`` once
    more so that surplus slices are caught too.
    """
    depth, height, width = spec.shape
    count = 0
    for count, image in enumerate(slices, start=1):
        if count > depth:
            raise ValueError(f"received more than the {depth} slices the volume spec announced")
        image = np.asarray(image)
        if image.shape != (height, width) or image.dtype != spec.dtype:
            raise ValueError(
                f"slice {count - 1} has shape {image.shape} and dtype {image.dtype}; "
                f"expected {(height, width)} and {np.dtype(spec.dtype)}"
            )
        yield image
    if count < depth:
        raise ValueError(f"received {count} slices; the volume spec announced {depth}")
