"""Write-then-rename: an output appears complete or not at all, even on error or Ctrl-C.

And the rules that keep user data safe, whatever the flags: an output never is, holds or lies
inside an input (symlinks and hard links resolved), and ``overwrite`` replaces only a single
file or a folder vemrestore wrote (it carries ``OUTPUT_MARKER``, or is an empty folder).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vemrestore.errors import VemRestoreError

OUTPUT_MARKER = ".vemrestore-output"
"""Empty file in every folder output (slice folder, Zarr store, report): ours to replace."""
ZARR_ATTRIBUTE = "vemrestore"
"""Group attribute of block-wise Zarr outputs, which also mark them as ours."""
_TEMPORARY_TAGS = (".vemrestore-tmp-", ".vemrestore-old-")


def check_not_input(output: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output that is, holds or lies inside one of ``inputs`` (no flag overrides).

    Paths are compared after resolving symlinks; an existing output that is a hard link to
    an input file is caught by comparing inodes.
    """
    target = Path(output).resolve()
    for source in inputs:
        resolved = Path(source).resolve()
        related = target == resolved or target in resolved.parents or resolved in target.parents
        if not related and target.exists() and resolved.exists():
            related = os.path.samefile(target, resolved)
        if related:
            raise VemRestoreError(
                f"{output}: the output is, holds or lies inside the input {source}; choose an "
                "output path outside it (--overwrite never replaces an input)"
            )


def is_vemrestore_output(path: Path) -> bool:
    """Whether ``path`` is something ``overwrite`` may replace: a file or symlink (replaced
    by rename; a symlink's target is untouched), an empty folder, or a folder we wrote."""
    if path.is_symlink() or not path.is_dir():
        return True
    if (path / OUTPUT_MARKER).is_file() or not any(path.iterdir()):
        return True
    try:
        attributes = json.loads((path / "zarr.json").read_text(encoding="utf-8"))["attributes"]
        return isinstance(attributes, dict) and ZARR_ATTRIBUTE in attributes
    except (OSError, ValueError, KeyError, TypeError):
        return False


def check_output_path(path: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """Refuse an output that is an input, exists (unless ``overwrite`` and it is ours to
    replace: ``is_vemrestore_output``) or whose parent folder is missing."""
    path = Path(path)
    check_not_input(path, inputs)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise VemRestoreError(f"{path}: output already exists (use --overwrite to replace it)")
        if not is_vemrestore_output(path):
            raise VemRestoreError(
                f"{path}: --overwrite replaces only a file or a folder vemrestore wrote, and this "
                "folder holds other files; move them or choose another output path"
            )
    parent = path.absolute().parent
    if not parent.is_dir():
        raise VemRestoreError(f"{path}: output folder {parent} does not exist")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporaries of ``path`` left by killed runs (SIGKILL, power loss) on this host.

    They are hidden siblings ``.NAME.vemrestore-tmp-PID``; one whose process is gone is stale.
    """
    prefix = f".{path.name}"
    try:
        siblings = list(path.absolute().parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        name = sibling.name
        for tag in _TEMPORARY_TAGS:
            pid = name.removeprefix(prefix + tag)
            if name.startswith(prefix + tag) and pid.isdigit() and not _process_alive(int(pid)):
                _remove(sibling)


@contextmanager
def atomic_output(path: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``path``; rename it to ``path`` only on success.

    Works for files and folders (Zarr stores, slice folders; a folder gets ``OUTPUT_MARKER``).
    On any exception, including KeyboardInterrupt, the temporary output is deleted and an
    existing ``path`` is untouched.
    """
    path = Path(path)
    check_output_path(path, overwrite, inputs)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.vemrestore-tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir():
            (tmp / OUTPUT_MARKER).touch()
    except BaseException:
        _remove(tmp)
        raise
    if path.exists() or path.is_symlink():
        if not overwrite:
            _remove(tmp)
            raise VemRestoreError(f"{path}: output appeared while writing; not overwritten")
        old = path.with_name(f".{path.name}.vemrestore-old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
    else:
        os.replace(tmp, path)
