"""The installed vemrestore version, read from the package metadata (pyproject.toml is the
one place it is written). Every layer takes it from here, not from the package root, which
would pull in the API."""

from importlib.metadata import version

__version__ = version("vemrestore")
