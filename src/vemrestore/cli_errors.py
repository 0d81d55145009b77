"""How the command line reports user mistakes: one ``error:`` line and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError

from vemrestore.errors import VemRestoreError, user_message


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user-fixable errors into one line on stderr and exit code 2 (no traceback)."""
    try:
        yield
    except (VemRestoreError, ValidationError) as error:
        typer.echo(f"error: {user_message(error)}", err=True)
        raise typer.Exit(2) from None
