"""Small types shared by every layer (kept here so each has one definition)."""

from __future__ import annotations

import os

PathLike = str | os.PathLike[str]
"""A file or folder path as callers give it."""
