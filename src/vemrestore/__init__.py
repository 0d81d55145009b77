"""vemrestore: Fast-Scan, AI-Restore for volume electron microscopy.

The Python API lives in ``vemrestore.api``; its entry points are also reachable here
(``vemrestore.restore``, ``vemrestore.restore_file``, ``vemrestore.restore_key_slices``,
``vemrestore.volume_info``) and are imported on first use, so ``import vemrestore.io`` does not
pull in PyTorch.
"""

from typing import Any

from vemrestore.version import __version__

__all__ = ["__version__", "restore", "restore_file", "restore_key_slices", "volume_info"]


def __getattr__(name: str) -> Any:
    if name in ("restore", "restore_file", "restore_key_slices", "volume_info"):
        from vemrestore import api

        return getattr(api, name)
    raise AttributeError(f"module 'vemrestore' has no attribute {name!r}")
