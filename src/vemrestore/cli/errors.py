"""How the command line reports failures: one ``error:`` line, never a traceback.

- user-fixable problems (``VemRestoreError``, invalid options) and the conditions of the
  machine (a read-only or full disk, a missing permission, a symlink loop: ``OSError``; out of
  memory: ``MemoryError``) exit with code 2;
- anything else is a bug: one line naming it, "rerun with --debug for details", exit 1;
  ``--debug`` shows the traceback instead;
- Ctrl-C exits with 130 and SIGTERM with 143 (128 + signal number), as shells expect; the
  writers' temporary outputs are removed on the way out (``io.atomic``).
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import click
import typer
from pydantic import ValidationError

from vemrestore.errors import VemRestoreError

DEBUG_ENV = "VEMRESTORE_DEBUG"
"""Set (by ``--debug`` or by the user) to show tracebacks of unexpected errors."""

_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded; free space or write elsewhere",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.ELOOP: "a symbolic link loops back on itself; fix or remove the link",
    errno.ENAMETOOLONG: "a file name is too long",
}


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so that ``finally`` blocks and writers clean up."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def describe_os_error(error: OSError) -> str:
    """An ``OSError`` as one line naming the file and what to do."""
    where = error.filename or ""
    hint = _OS_HINTS.get(error.errno or -1, error.strerror or str(error) or type(error).__name__)
    return f"{where}: {hint}" if where else hint


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every failure into one line on stderr and an exit code (see module docstring)."""
    debug = bool(os.environ.get(DEBUG_ENV))
    previous = signal.getsignal(signal.SIGTERM)
    in_main_thread = _set_sigterm(_raise_terminated)
    try:
        yield
    except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except VemRestoreError as error:
        raise _fail(str(error), 2) from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise _fail(f"invalid option: {problems}", 2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except Terminated:
        typer.echo("terminated", err=True)
        raise typer.Exit(128 + signal.SIGTERM) from None
    except OSError as error:
        if debug:
            raise
        raise _fail(describe_os_error(error), 2) from None
    except MemoryError:
        if debug:
            raise
        raise _fail("out of memory; use a smaller --tile, --batch-size or --block", 2) from None
    except Exception as error:
        if debug:
            raise
        text = " ".join(str(error).split())[:300]
        raise _fail(
            f"unexpected {type(error).__name__}{': ' + text if text else ''} (a bug in "
            "vemrestore?); rerun with --debug for details",
            1,
        ) from None
    finally:
        if in_main_thread:
            _set_sigterm(previous)


def _set_sigterm(handler: object) -> bool:
    """Install ``handler`` for SIGTERM; False where signals cannot be set (not main thread)."""
    try:
        signal.signal(signal.SIGTERM, handler)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False
    return True


def enable_debug() -> None:
    """``--debug``: show tracebacks of unexpected errors."""
    os.environ[DEBUG_ENV] = "1"
