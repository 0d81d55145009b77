"""Errors a user can fix: the CLI prints their message as one line and exits with code 2."""


class VemRestoreError(Exception):
    """A problem with the user's input, output path, or checkpoint (not a bug in vemrestore).

    The message must name the file and the problem, e.g. ``"scan.tif: not a TIFF file"``.
    """


def user_message(error: BaseException) -> str | None:
    """The one line a user sees for a mistake they can fix (the CLI's ``error:`` line, a napari
    notification); None for anything else, which is a bug to report with its traceback."""
    from pydantic import ValidationError

    if isinstance(error, VemRestoreError):
        return str(error)
    if isinstance(error, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return f"invalid option: {problems}"
    return None
