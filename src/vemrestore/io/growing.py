"""Outputs that grow one slice at a time while an acquisition runs, and resume after a crash.

Unlike the other writers (complete under a temporary name, then renamed), a live output must
be readable while it grows. So every slice is stored whole (a slice file is written under a
temporary name and renamed; a Zarr slice is one chunk row, stored before the count that
covers it), and the output says it is unfinished until ``finish``:

    OUT/                         slice folder: slice_00000.tif ..., plus
    OUT/.vemrestore-watch.json   {"settings": ..., "slices": n} while unfinished
    OUT.zarr/zarr.json           OME-Zarr v0.5; attribute "vemrestore" holds
                                 {"settings": ..., "slices": n, "incomplete": true}
    OUT.zarr/0/                  (z, y, x), grown along z; chunks (1, Y, X) up to 1024²

A rerun with the same settings resumes after the last slice counted; one with other settings
is refused (its slices would not match), and a finished output is not touched without
``overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import zarr

from vemrestore.errors import VemRestoreError
from vemrestore.io.arrivals import SliceFormat
from vemrestore.io.atomic import check_output_path
from vemrestore.io.base import VolumeSpec, error_reason
from vemrestore.io.slices import TIFF_SLICE_SUFFIXES, check_slice_format
from vemrestore.io.tiff import write_tiff_slice
from vemrestore.io.zarr_output import check_same_settings
from vemrestore.io.zarr_store import SPATIAL_AXES, ome_metadata

ATTRIBUTE = "vemrestore"
FOLDER_STATE = ".vemrestore-watch.json"
SLICE_NAME_WIDTH = 5
MAX_CHUNK_YX = 1024


class GrowingOutput(ABC):
    """A (z, y, x) output appended to slice by slice; ``written`` slices are stored."""

    path: Path
    written: int

    @abstractmethod
    def append(self, image: np.ndarray) -> None:
        """Store slice ``written`` and count it."""

    @abstractmethod
    def finish(self) -> None:
        """Mark the output complete: a later run will not resume it."""


def open_growing_output(
    path: Path,
    slice_format: SliceFormat,
    settings: dict[str, Any],
    *,
    overwrite: bool = False,
    slice_suffix: str = ".tif",
) -> GrowingOutput:
    """Resume the unfinished output at ``path`` made with ``settings``, or start a new one.

    ``path`` ending in ``.zarr`` is an OME-Zarr store; a name without suffix is a slice folder.
    """
    path = Path(path)
    zarr_output = path.suffix.lower() == ".zarr"
    if not zarr_output and path.suffix:
        raise VemRestoreError(
            f"{path}: live output is a .zarr store or a folder name without extension (slices)"
        )
    spec = VolumeSpec((1, *slice_format.shape), slice_format.dtype, slice_format.voxel_size)
    if not zarr_output:
        check_slice_format(path, spec, slice_suffix)
    wanted = json.loads(json.dumps(settings))
    if path.exists():
        previous = _ZarrOutput.unfinished(path) if zarr_output else _FolderOutput.unfinished(path)
        if overwrite:
            _remove(path)
        elif previous is None:
            raise VemRestoreError(f"{path}: output already exists (use --overwrite to replace it)")
        else:
            check_same_settings(path, previous, wanted, "live restoration")
            return _ZarrOutput(path) if zarr_output else _FolderOutput(path)
    check_output_path(path, overwrite=False)
    if zarr_output:
        return _ZarrOutput.create(path, spec, wanted)
    return _FolderOutput.create(path, wanted, slice_suffix, spec)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


class _FolderOutput(GrowingOutput):
    def __init__(self, path: Path) -> None:
        self.path = path
        state = json.loads((path / FOLDER_STATE).read_text())
        self.settings = state["settings"]
        self.suffix = state["suffix"]
        self.voxel_size = state["voxel_size"]
        self.written = int(state["slices"])
        for stale in path.glob(f".*{self.suffix}.tmp"):
            stale.unlink()

    @staticmethod
    def unfinished(path: Path) -> dict[str, Any] | None:
        try:
            return json.loads((path / FOLDER_STATE).read_text())["settings"]
        except (OSError, ValueError, KeyError):
            return None

    @classmethod
    def create(
        cls, path: Path, settings: dict[str, Any], suffix: str, spec: VolumeSpec
    ) -> _FolderOutput:
        path.mkdir()
        voxel_size = list(spec.voxel_size) if spec.voxel_size else None
        _write_json(
            path / FOLDER_STATE,
            {"settings": settings, "suffix": suffix, "voxel_size": voxel_size, "slices": 0},
        )
        return cls(path)

    def append(self, image: np.ndarray) -> None:
        name = f"slice_{self.written:0{SLICE_NAME_WIDTH}d}{self.suffix}"
        temporary = self.path / f".{name}.tmp"
        if self.suffix.lower() in TIFF_SLICE_SUFFIXES:
            voxel_size = tuple(self.voxel_size) if self.voxel_size else None
            write_tiff_slice(temporary, image, voxel_size)
        else:
            iio.imwrite(temporary, image, extension=self.suffix)
        os.replace(temporary, self.path / name)
        self.written += 1
        self._save_state()

    def _save_state(self) -> None:
        state = {"settings": self.settings, "suffix": self.suffix, "voxel_size": self.voxel_size}
        _write_json(self.path / FOLDER_STATE, {**state, "slices": self.written})

    def finish(self) -> None:
        (self.path / FOLDER_STATE).unlink()


class _ZarrOutput(GrowingOutput):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._group = zarr.open_group(store=str(path), mode="r+")
            self._array = self._group["0"]
        except Exception as error:
            raise VemRestoreError(
                f"{path}: cannot open the output for writing ({error_reason(error)})"
            ) from None
        self.written = int(self._group.attrs[ATTRIBUTE]["slices"])
        if self._array.shape[0] != self.written:  # a crash between growing and counting
            self._array.resize((self.written, *self._array.shape[1:]))

    @staticmethod
    def unfinished(path: Path) -> dict[str, Any] | None:
        try:
            info = dict(zarr.open_group(store=str(path), mode="r").attrs)[ATTRIBUTE]
        except Exception:
            return None
        if not isinstance(info, dict) or not info.get("incomplete"):
            return None
        return info.get("settings")

    @classmethod
    def create(cls, path: Path, spec: VolumeSpec, settings: dict[str, Any]) -> _ZarrOutput:
        attributes = ome_metadata(spec.voxel_size)
        attributes[ATTRIBUTE] = {"settings": settings, "slices": 0, "incomplete": True}
        height, width = spec.shape[1:]
        try:
            group = zarr.open_group(
                store=str(path), mode="w-", zarr_format=3, attributes=attributes
            )
            group.create_array(
                "0",
                shape=(0, height, width),
                dtype=spec.dtype,
                chunks=(1, min(height, MAX_CHUNK_YX), min(width, MAX_CHUNK_YX)),
                dimension_names=SPATIAL_AXES,
            )
        except Exception as error:
            raise VemRestoreError(
                f"{path}: cannot create the output ({error_reason(error)})"
            ) from None
        return cls(path)

    def append(self, image: np.ndarray) -> None:
        self._array.resize((self.written + 1, *self._array.shape[1:]))
        self._array[self.written] = image
        self.written += 1
        self._set_info(slices=self.written, incomplete=True)

    def finish(self) -> None:
        self._set_info(slices=self.written)

    def _set_info(self, **values: Any) -> None:
        info = dict(self._group.attrs[ATTRIBUTE])
        info.pop("incomplete", None)
        info.update(values)
        self._group.attrs[ATTRIBUTE] = info


def _write_json(path: Path, value: dict[str, Any]) -> None:
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)
