"""MRC volumes (``mrcfile``): ``.mrc``, ``.rec``, ``.st``, ``.map``; memory-mapped.

The voxel size is the header's (Å, x/y/z) in nm, None when the header says 0. MRC stores
8- and 16-bit data signed (modes 0 and 1); those are read as float32 (exactly), since
vemrestore's integer types are unsigned. Mode 6 (uint16) and 2 (float32) are read as is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import VolumeReader, VolumeSpec, VoxelSize, validate_volume_shape

MRC_SUFFIXES = (".mrc", ".rec", ".st", ".map", ".mrcs")
_SIGNED = (np.dtype(np.int8), np.dtype(np.int16))


class MrcReader(VolumeReader):
    """A 3D (or 2D) MRC file, memory-mapped: a region read touches only that region."""

    format = "mrc"

    def __init__(self, path: Path) -> None:
        try:
            import mrcfile
        except ImportError:
            raise VemRestoreError(
                "MRC needs mrcfile: pip install 'vemrestore[formats]' (or pip install mrcfile)"
            ) from None
        self.path = Path(path)
        self.name = str(path)
        try:
            self._mrc = mrcfile.mmap(self.path, mode="r", permissive=True)
        except (OSError, ValueError) as error:
            raise VemRestoreError(f"{self.path}: not a readable MRC file ({error})") from None
        data = self._mrc.data
        if data is None:
            self._mrc.close()
            raise VemRestoreError(f"{self.path}: the MRC file holds no data")
        self._data = data
        shape = data.shape if data.ndim == 3 else (1, *data.shape)
        stored = np.dtype(data.dtype).newbyteorder("=")
        self._convert = stored in _SIGNED
        dtype = np.dtype(np.float32) if self._convert else stored
        try:
            validate_volume_shape(self.name, shape, dtype)
        except VemRestoreError:
            self._mrc.close()
            raise
        self.spec = VolumeSpec(tuple(int(s) for s in shape), dtype, self._voxel_size())

    def _voxel_size(self) -> VoxelSize | None:
        size = self._mrc.voxel_size
        values = (float(size.z) / 10, float(size.y) / 10, float(size.x) / 10)
        return values if all(v > 0 for v in values) else None

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        data = self._data if self._data.ndim == 3 else self._data[np.newaxis]
        region = np.asarray(data[z, y, x])
        return region.astype(np.float32) if self._convert else region.astype(self.dtype)

    def close(self) -> None:
        self._mrc.close()
