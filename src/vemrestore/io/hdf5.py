"""HDF5 volumes (``h5py``): ``file.h5`` or ``file.h5:/group/dataset``.

Voxel size, read in this order: a ``resolution`` attribute (z, y, x in nm, the CREMI
convention), ``element_size_um`` (z, y, x in µm, ilastik/Fiji), ``voxel_size_nm``; written as
``resolution`` and ``element_size_um`` both, so either kind of reader finds it. Without a
dataset path, a file holding exactly one 2D/3D dataset opens that one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import (
    VolumeReader,
    VolumeSpec,
    VoxelSize,
    checked_slices,
    validate_volume_shape,
)

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
DATASET = "volume"
"""Name of the dataset vemrestore writes."""
VOXEL_SIZE_ATTRIBUTES = (("resolution", 1.0), ("element_size_um", 1000.0), ("voxel_size_nm", 1.0))
"""Dataset attributes holding (z, y, x) voxel size, with their factor to nm, in read order."""


def _h5py():
    try:
        import h5py
    except ImportError:
        raise VemRestoreError(
            "HDF5 needs h5py: pip install 'vemrestore[formats]' (or pip install h5py)"
        ) from None
    return h5py


def split_dataset_path(text: str) -> tuple[Path, str | None]:
    """``file.h5:/a/b`` → (file.h5, "/a/b"); a plain path → (path, None)."""
    for suffix in HDF5_SUFFIXES:
        marker = f"{suffix}:"
        index = text.lower().find(marker)
        if index >= 0:
            end = index + len(suffix)
            return Path(text[:end]), text[end + 1 :] or None
    return Path(text), None


def is_hdf5(text: str) -> bool:
    return split_dataset_path(text)[0].suffix.lower() in HDF5_SUFFIXES


class Hdf5Reader(VolumeReader):
    """A 3D (or 2D) dataset of an HDF5 file; regions are read by h5py (chunked or not)."""

    format = "hdf5"

    def __init__(self, path: Path, dataset: str | None = None) -> None:
        h5py = _h5py()
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise VemRestoreError(f"{self.path}: not a readable HDF5 file ({error})") from None
        try:
            name = dataset or self._only_dataset()
            if name not in self._file or not isinstance(self._file[name], h5py.Dataset):
                raise VemRestoreError(
                    f"{self.path}: no dataset {name!r}; datasets: {', '.join(self._datasets())}"
                )
            self._data = self._file[name]
            self.name = f"{self.path}:{self._data.name}"
            shape = self._data.shape if self._data.ndim == 3 else (1, *self._data.shape)
            validate_volume_shape(self.name, shape, self._data.dtype)
            self.spec = VolumeSpec(tuple(shape), np.dtype(self._data.dtype), self._voxel_size())
            chunks = self._data.chunks
            if chunks is not None:
                self.chunks = tuple(chunks) if len(chunks) == 3 else (1, *chunks)
        except BaseException:
            self._file.close()
            raise

    def _datasets(self) -> list[str]:
        h5py = _h5py()
        found: list[str] = []
        self._file.visititems(
            lambda name, item: (
                found.append(f"/{name}")
                if isinstance(item, h5py.Dataset) and item.ndim in (2, 3)
                else None
            )
        )
        return found

    def _only_dataset(self) -> str:
        datasets = self._datasets()
        if len(datasets) != 1:
            listed = ", ".join(datasets) or "none"
            raise VemRestoreError(
                f"{self.path}: say which dataset to read, e.g. {self.path}:/volume "
                f"(2D/3D datasets: {listed})"
            )
        return datasets[0]

    def _voxel_size(self) -> VoxelSize | None:
        attrs = self._data.attrs
        for key, scale in (
            ("resolution", 1.0),
            ("element_size_um", 1000.0),
            ("voxel_size_nm", 1.0),
        ):
            if key in attrs:
                values = [float(v) * scale for v in np.ravel(attrs[key])]
                if len(values) == 2:
                    values = [1.0, *values]
                if len(values) == 3 and all(v > 0 for v in values):
                    return (values[0], values[1], values[2])
        return None

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        if self._data.ndim == 2:
            return self._data[y, x][np.newaxis][z]
        return self._data[z, y, x]

    def close(self) -> None:
        self._file.close()


def write_hdf5(path: Path, slices: Iterable[np.ndarray], spec: VolumeSpec) -> None:
    """Write dataset ``/volume`` (chunked by slice, up to 512×512) one slice at a time."""
    h5py = _h5py()
    depth, height, width = spec.shape
    with h5py.File(path, "w") as handle:
        data = handle.create_dataset(
            DATASET,
            shape=spec.shape,
            dtype=spec.dtype,
            chunks=(1, min(height, 512), min(width, 512)),
        )
        if spec.voxel_size is not None:
            data.attrs["resolution"] = np.asarray(spec.voxel_size, dtype=np.float64)
            data.attrs["element_size_um"] = np.asarray(spec.voxel_size, dtype=np.float64) / 1000
        for z, image in enumerate(checked_slices(slices, spec)):
            data[z] = image
