"""Errors a user can fix: the CLI prints their message as one line and exits with code 2."""


class VemRestoreError(Exception):
    """A problem with the user's input, output path, or checkpoint (not a bug in vemrestore).

    The message must name the file and the problem, e.g. ``"scan.tif: not a TIFF file"``.
    """
