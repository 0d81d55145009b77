"""Build the shipped noise profile and the bundled demo volume (run once; outputs committed).

    python demo/make_demo_data.py [--shared ../shared/data]

1. Calibrates a Poisson-Gaussian profile on the real low-SNR SEM image from EMDiffuse and
   reads it as a 16× fast scan (its dwell time is not stated; EMDiffuse's low-SNR images
   were 9-72× faster than their 36 µs reference), so the *reference* profile has 16× the
   electrons per unit intensity. Written to ``src/vemrestore/pretrained/``.
2. Takes slices 0-15 of the EPFL hippocampus FIB-SEM crop as the slow scan and simulates an
   8× faster scan of it with that profile (seed 2026).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tifffile

from vemrestore.pretrained import REFERENCE_PROFILE
from vemrestore.simulate import NoiseProfile, calibrate_single, save_profile, simulate_fast_scan

HERE = Path(__file__).parent
SEM = "emdiffuse_mouse_cortex_sem_noisy_1x1600x1600_uint16.tif"
SOURCE = "isovem_epfl_fibsem_zsub8_32x256x256.tif"
SEM_SPEEDUP = 16.0
VOXEL_SIZE_NM = (40.0, 5.0, 5.0)
DEMO_SLICES = slice(0, 16)
DEMO_SPEEDUP = 8.0
SLOW = HERE / "fibsem_slow_16x256x256.tif"
FAST = HERE / "fibsem_fast_16x256x256.tif"


def reference_profile(sem_image_path: Path) -> NoiseProfile:
    """The SEM image's fitted profile, scaled from its (16× fast) scan to the reference scan."""
    fit = calibrate_single(tifffile.imread(sem_image_path))
    print(fit.summary())
    measured = fit.profile
    return measured.model_copy(
        update={
            "electrons_per_unit": measured.electrons_per_unit * SEM_SPEEDUP,
            "blur_tau": measured.blur_tau / SEM_SPEEDUP,
        }
    )


def write_imagej(path: Path, volume) -> None:
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
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()
    profile = reference_profile(args.shared / SEM)
    save_profile(profile, REFERENCE_PROFILE)
    print(f"reference profile: {profile.describe()} -> {REFERENCE_PROFILE}")
    slow = tifffile.imread(args.shared / SOURCE)[DEMO_SLICES]
    write_imagej(SLOW, slow)
    write_imagej(FAST, simulate_fast_scan(slow, DEMO_SPEEDUP, profile, seed=2026))


if __name__ == "__main__":
    main()
