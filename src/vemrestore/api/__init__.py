"""The documented Python entry points. They wire the layers together and hold no maths.

Typical use::

    import numpy as np
    import vemrestore

    restored = vemrestore.restore(noisy_volume, "model.pt")          # numpy in, numpy out
    vemrestore.restore_file("fast.tif", "restored.tif", "model.pt")  # any size, streamed
    vemrestore.api.restore_sublattices(noisy_volume, "self_supervised.pt")  # 2x2 sub-lattices
    vemrestore.api.restore_blocks("scan.zarr", "restored.zarr", "model.pt")  # Dask, resumable
    vemrestore.api.watch("acquisition/", "restored.zarr", "model.pt")  # while acquiring

- ``restoration``: restoring arrays and files (every name below but ``watch``);
- ``live``: ``watch``, restoring slices while the microscope writes them;
- ``analysis``: simulate, calibrate, evaluate and plan on files (what the analysis commands
  and the napari analysis widgets call); import it as ``vemrestore.api.analysis``.
"""

from vemrestore.api.live import watch
from vemrestore.api.restoration import (
    NoiseCheck,
    ProgressCallback,
    can_restore_in_blocks,
    check_noise,
    open_lazily,
    plan_file,
    restoration_summary,
    restore,
    restore_array_file,
    restore_blocks,
    restore_file,
    restore_key_slices,
    restore_sublattices,
    volume_info,
)

__all__ = [
    "NoiseCheck",
    "ProgressCallback",
    "can_restore_in_blocks",
    "check_noise",
    "open_lazily",
    "plan_file",
    "restoration_summary",
    "restore",
    "restore_array_file",
    "restore_blocks",
    "restore_file",
    "restore_key_slices",
    "restore_sublattices",
    "volume_info",
    "watch",
]
