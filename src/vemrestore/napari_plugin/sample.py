"""The demo fast/slow FIB-SEM pair (``demo/`` in the repository) as napari sample data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vemrestore import api
from vemrestore.errors import VemRestoreError

DEMO = Path(__file__).resolve().parents[3] / "demo"
PAIR = {"fast": "fibsem_fast_16x256x256.tif", "slow": "fibsem_slow_16x256x256.tif"}


def demo_pair() -> list[tuple[Any, dict[str, Any], str]]:
    """Both demo volumes as image layers with their voxel size (nm)."""
    layers = []
    for name, file in PAIR.items():
        path = DEMO / file
        if not path.is_file():
            raise VemRestoreError(
                f"{path}: demo data not found (it ships with the source repository; "
                "install vemrestore from a checkout: pip install -e '.[napari]')"
            )
        data, voxel_size = api.open_lazily(path)
        layers.append((data.compute(), {"name": f"demo {name}", "scale": voxel_size}, "image"))
    return layers
