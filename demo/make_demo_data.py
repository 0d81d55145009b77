"""Build the bundled demo volume from the shared real data (run once; its output is committed).

    python demo/make_demo_data.py [--shared ../shared/data]

Takes slices 0-15 of the EPFL hippocampus FIB-SEM crop (``isovem_epfl_fibsem_zsub8``) as the
"slow scan" reference and simulates an 8× faster scan of it: shot noise on the expected
electron count (Poisson, dose / 8) plus Gaussian read-out noise. Seeded, so reproducible.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tifffile

SOURCE = "isovem_epfl_fibsem_zsub8_32x256x256.tif"
VOXEL_SIZE_NM = (40.0, 5.0, 5.0)
DEMO_SLICES = slice(0, 16)
SLOW_ELECTRONS_AT_WHITE = 200.0
SPEEDUP = 8.0
READ_NOISE = 4.0


def simulate_fast_scan(slow: np.ndarray, speedup: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 (Z, Y, X) slow scan -> uint8 fast scan with dose / ``speedup`` (shot + read noise)."""
    electrons_at_white = SLOW_ELECTRONS_AT_WHITE / speedup
    counts = rng.poisson(slow.astype(np.float64) / 255.0 * electrons_at_white)
    fast = counts / electrons_at_white * 255.0 + rng.normal(0.0, READ_NOISE, slow.shape)
    return np.clip(np.rint(fast), 0, 255).astype(np.uint8)


def write_imagej(path: Path, volume: np.ndarray) -> None:
    z, y, x = VOXEL_SIZE_NM
    tifffile.imwrite(
        path,
        volume,
        imagej=True,
        resolution=(1 / x, 1 / y),
        metadata={"spacing": z, "unit": "nm", "axes": "ZYX"},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).parent
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared" / "data")
    args = parser.parse_args()
    slow = tifffile.imread(args.shared / SOURCE)[DEMO_SLICES]
    fast = simulate_fast_scan(slow, SPEEDUP, np.random.default_rng(2026))
    write_imagej(here / "fibsem_slow_16x256x256.tif", slow)
    write_imagej(here / "fibsem_fast_16x256x256.tif", fast)


if __name__ == "__main__":
    main()
