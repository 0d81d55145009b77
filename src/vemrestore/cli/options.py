"""Options shared by every command, spelled once: output, overwrite, quiet, threads.

Old spellings (``--out``, ``--force``) stay as hidden aliases for one release.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from vemrestore.errors import VemRestoreError
from vemrestore.training.quiet import LIGHTNING_LOGGERS

Output = Annotated[
    Path | None, typer.Option("--output", "-o", metavar="PATH", help="Where to write the result.")
]
OldOutput = Annotated[Path | None, typer.Option("--out", hidden=True)]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace outputs if they exist.")]
OldOverwrite = Annotated[bool, typer.Option("--force", hidden=True)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        metavar="N",
        help=(
            "CPU threads for PyTorch (default: the free cores, i.e. cores minus the load); "
            "in a block run, per worker."
        ),
    ),
]


def one_output(output: Path | None, old: Path | None, required: bool = True) -> Path | None:
    """The output path from ``-o/--output`` or its old spelling ``--out``."""
    if output is not None and old is not None and output != old:
        raise VemRestoreError(f"two outputs given ({old} and -o {output}): give one")
    path = output if output is not None else old
    if path is None and required:
        raise VemRestoreError("-o/--output PATH is required")
    return path


def quiet_libraries() -> None:
    """Silence library chatter for real: call after the libraries are imported (Lightning
    resets its loggers on import) and before they run. Warnings go too: what a user must
    know, vemrestore says itself."""
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (which test runners swap), not the one at start."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def show_vemrestore_warnings() -> None:
    """vemrestore's own log warnings reach stderr as ``warning: ...`` lines."""
    logger = logging.getLogger("vemrestore")
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
