"""An OME-Zarr output written block by block, by many processes, and resumable after a crash.

The other writers build the output under a temporary name and rename it when complete. A
block-wise output cannot: finished blocks must survive a crash. It lives at its final path
from the start and is marked unfinished instead: the group attribute
``vemrestore.incomplete`` stays true until every block is stored, and each finished block
leaves an empty marker file, created only after all of the block's chunks are stored. A
rerun with the same settings skips marked blocks; completion clears the flag and removes
the markers. Layout::

    OUT.zarr/zarr.json                        OME-Zarr v0.5 multiscales, plus "vemrestore":
                                              settings, provenance, incomplete
    OUT.zarr/0/                               the (z, y, x) array, one file per chunk
    OUT.zarr/.vemrestore/blocks/<block id>    one marker per finished block, while unfinished

Chunk files are written by Zarr's local store through a temporary file and a rename, so a
killed process leaves whole chunks; a block without a marker is simply written again.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import zarr

from vemrestore.errors import VemRestoreError
from vemrestore.io.atomic import check_output_path
from vemrestore.io.base import VolumeSpec, checked_slices, error_reason
from vemrestore.io.zarr_store import SPATIAL_AXES, ome_metadata

ATTRIBUTE = "vemrestore"
DATASET = "0"
MARKER_FOLDER = Path(".vemrestore") / "blocks"

Region = tuple[slice, slice, slice]


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    """The value as it reads back from zarr.json (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


class BlockOutput:
    """An OME-Zarr image being written block by block; open one per process (it is cheap)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._group = zarr.open_group(store=str(self.path), mode="r+")
            self.array = self._group[DATASET]
        except Exception as error:
            raise VemRestoreError(
                f"{self.path}: cannot open the output for writing ({error_reason(error)})"
            ) from None
        self.chunks: tuple[int, int, int] = tuple(int(c) for c in self.array.chunks)

    @classmethod
    def prepare(
        cls,
        path: str | os.PathLike[str],
        spec: VolumeSpec,
        chunks: tuple[int, int, int],
        settings: dict[str, Any],
        provenance: dict[str, Any],
        overwrite: bool,
    ) -> BlockOutput:
        """Resume the unfinished output at ``path`` made with the same ``settings``, or start one.

        ``settings`` are everything that changes the output's numbers; a rerun with other
        settings must not mix its blocks with the old ones, so it is refused. ``overwrite``
        deletes a previous output at ``path`` first (a file, or a folder vemrestore wrote;
        any other folder is refused, see ``io.atomic.is_vemrestore_output``).
        """
        path = Path(path)
        if overwrite and (path.exists() or path.is_symlink()):
            check_output_path(path, overwrite=True)  # ours to replace, or refused
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        if not path.exists():
            check_output_path(path, overwrite=False)
            return cls.create(path, spec, chunks, settings, provenance)
        previous = _unfinished_settings(path)
        if previous is None:
            raise VemRestoreError(f"{path}: output already exists (use --overwrite to replace it)")
        check_same_settings(path, previous, _as_json(settings), "restoration")
        return cls(path)

    @classmethod
    def create(
        cls,
        path: Path,
        spec: VolumeSpec,
        chunks: tuple[int, int, int],
        settings: dict[str, Any],
        provenance: dict[str, Any],
    ) -> BlockOutput:
        """A new, empty (unfinished) OME-Zarr v0.5 image at ``path`` with ``chunks`` (z, y, x)."""
        attributes = ome_metadata(spec.voxel_size)
        attributes[ATTRIBUTE] = {
            "incomplete": True,
            "settings": _as_json(settings),
            "provenance": _as_json(provenance),
        }
        try:
            group = zarr.open_group(
                store=str(path), mode="w-", zarr_format=3, attributes=attributes
            )
            group.create_array(
                DATASET,
                shape=spec.shape,
                dtype=spec.dtype,
                chunks=chunks,
                dimension_names=SPATIAL_AXES,
            )
        except Exception as error:
            raise VemRestoreError(
                f"{path}: cannot create the output ({error_reason(error)})"
            ) from None
        (path / MARKER_FOLDER).mkdir(parents=True)
        return cls(path)

    def write(self, region: Region, slices: Iterable[np.ndarray]) -> None:
        """Store the (Y, X) ``slices`` of ``region``, one chunk-deep slab at a time.

        ``region`` must start on a chunk boundary and end on one or at the volume's edge, so
        every chunk is written whole, once; memory is one slab of the region.
        """
        z, y, x = region
        spec = VolumeSpec(
            (z.stop - z.start, y.stop - y.start, x.stop - x.start), np.dtype(self.array.dtype)
        )
        depth = self.chunks[0]
        slab = np.empty((min(depth, spec.shape[0]), *spec.shape[1:]), dtype=spec.dtype)
        start, filled = z.start, 0
        for image in checked_slices(slices, spec):
            slab[filled] = image
            filled += 1
            if filled == len(slab) or start + filled == z.stop:
                self.array[start : start + filled, y, x] = slab[:filled]
                start, filled = start + filled, 0

    def finished_blocks(self) -> set[str]:
        """Ids of the blocks whose markers exist (one directory listing, not one stat per block)."""
        folder = self.path / MARKER_FOLDER
        return set(os.listdir(folder)) if folder.is_dir() else set()

    def mark_finished(self, block_id: str) -> None:
        """Record that every chunk of block ``block_id`` is stored."""
        (self.path / MARKER_FOLDER / block_id).touch()

    def mark_complete(self) -> None:
        """Clear the ``incomplete`` flag, then drop the markers (a crash between is harmless)."""
        info = dict(self._group.attrs[ATTRIBUTE])
        info.pop("incomplete", None)
        self._group.attrs[ATTRIBUTE] = info
        shutil.rmtree(self.path / MARKER_FOLDER.parent, ignore_errors=True)


@contextmanager
def exclusive_run(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of the block-wise output ``path`` for one run; refuse a second run.

    Two runs writing the same blocks would each mark them finished; the lock is an
    ``flock`` on the hidden sibling ``.NAME.vemrestore-lock``, released by the kernel when
    the process ends however it ends, so a killed run never leaves a stale lock behind. A run
    that ends normally also removes the file; a run that locked a file already removed by
    the previous one (it opened it just before) is refused like any second run.
    """
    path = Path(path)
    lock_path = path.with_name(f".{path.name}.vemrestore-lock")
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 (held for the whole run)
    except OSError as error:
        raise VemRestoreError(
            f"{path}: cannot create the lock file {lock_path.name} ({error_reason(error)})"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _same_file(handle, lock_path):
                raise OSError("lock file replaced")
        except OSError:
            raise VemRestoreError(
                f"{path}: another vemrestore run is writing this output; wait for it to end "
                "(or stop it), then run again to resume"
            ) from None
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether ``path`` still names the open file ``handle`` (not removed or replaced)."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(handle.fileno())
    return (found.st_dev, found.st_ino) == (mine.st_dev, mine.st_ino)


def check_same_settings(
    path: Path, previous: dict[str, Any], wanted: dict[str, Any], kind: str
) -> None:
    """Refuse to resume an unfinished output whose numbers would differ from this run's."""
    if previous != wanted:
        changed = sorted(
            k for k in previous.keys() | wanted.keys() if previous.get(k) != wanted.get(k)
        )
        raise VemRestoreError(
            f"{path}: holds an unfinished {kind} made with different settings "
            f"({', '.join(changed)}); use --overwrite to start over"
        )


def _unfinished_settings(path: Path) -> dict[str, Any] | None:
    """The settings of an unfinished block-wise output at ``path``; None for anything else."""
    try:
        attributes = dict(zarr.open_group(store=str(path), mode="r").attrs)
    except Exception:
        return None
    info = attributes.get(ATTRIBUTE)
    if not isinstance(info, dict) or not info.get("incomplete"):
        return None
    settings = info.get("settings")
    return settings if isinstance(settings, dict) else None
