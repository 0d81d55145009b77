"""How the command line reports user mistakes: one ``error:`` line and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError

from vemrestore.errors import VemRestoreError


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user-fixable errors into one line on stderr and exit code 2 (no traceback)."""
    try:
        yield
    except VemRestoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        typer.echo(f"error: invalid option: {problems}", err=True)
        raise typer.Exit(2) from None
