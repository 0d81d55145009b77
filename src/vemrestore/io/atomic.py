"""Write-then-rename: an output appears complete or not at all, even on error or Ctrl-C."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vemrestore.errors import VemRestoreError


def check_output_path(path: Path, overwrite: bool) -> None:
    """Refuse an output that exists (unless ``overwrite``) or whose parent folder is missing."""
    if path.exists() and not overwrite:
        raise VemRestoreError(f"{path}: output already exists (use --overwrite to replace it)")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise VemRestoreError(f"{path}: output folder {parent} does not exist")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``path``; rename it to ``path`` only on success.

    Works for files and folders (Zarr stores, slice folders). On any exception, including
    KeyboardInterrupt, the temporary output is deleted and an existing ``path`` is untouched.
    """
    path = Path(path)
    check_output_path(path, overwrite)
    tmp = path.with_name(f".{path.name}.vemrestore-tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if path.exists():
        if not overwrite:
            _remove(tmp)
            raise VemRestoreError(f"{path}: output appeared while writing; not overwritten")
        old = path.with_name(f".{path.name}.vemrestore-old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
    else:
        os.replace(tmp, path)
