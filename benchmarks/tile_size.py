"""Default in-plane tile size: whole-volume throughput and tiling error of the default model.

    python benchmarks/tile_size.py                # records benchmarks/RESULTS.md
    python benchmarks/tile_size.py --no-record

The default model (``vemrestore.pretrained.DEFAULT_MODEL``) restores a square crop of real
EM (``../shared/data``, or random uint8 data when absent) with in-plane tiles of at most
``T`` spread evenly over the plane (``geometry.fitted_tile``), and with the fixed 256×256
tiles used before. Quality: PSNR of each tiled result against the same model run on the
whole plane as one tile (higher: closer to untiled; tiling error only, not restoration
quality). Each setting is timed ``--repeats`` times, interleaved; the fastest run is kept.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from results import load_average, machine_info, publish

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "wsu_plantbio_em_plant_10x2048x2048.tif"
)
MAX_TILES = (256, 384, 512, 768, 1024)


def _crop(slices: int, plane: int) -> tuple[np.ndarray, str]:
    if DATA.exists():
        with tifffile.TiffFile(DATA) as tiff:
            volume = np.stack([tiff.pages[z].asarray()[:plane, :plane] for z in range(slices)])
        return volume.astype(np.uint8), f"{DATA.name}, first {slices} slice(s), top-left crop"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (slices, plane, plane), dtype=np.uint8), "random uint8"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plane", type=int, default=1024, help="crop size Y = X")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per setting")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from vemrestore import pretrained, restore
    from vemrestore.config import InferenceConfig
    from vemrestore.geometry import AxisTiling, fitted_tile
    from vemrestore.model_io.files import as_checkpoint

    checkpoint = as_checkpoint(pretrained.DEFAULT_MODEL)
    volume, source = _crop(args.slices, args.plane)
    window = int(getattr(checkpoint.model, "window", 1))
    settings = {"256 fixed (before)": 256}
    settings.update({f"≤{t} fitted": fitted_tile(args.plane, t, 32) for t in MAX_TILES})
    load_before = load_average()
    whole_tile = fitted_tile(args.plane, 2 * args.plane, 32)
    untiled = restore(
        volume, checkpoint, config=InferenceConfig(tile=(window, whole_tile, whole_tile))
    )
    seconds: dict[str, float] = {}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for label, tile in settings.items():
            config = InferenceConfig(tile=(window, tile, tile), overlap=(window // 2, 32, 32))
            start = time.perf_counter()
            outputs[label] = restore(volume, checkpoint, config=config)
            seconds[label] = min(seconds.get(label, np.inf), time.perf_counter() - start)
    rows = [
        "| in-plane tile | tiles per slice | tile voxels / output voxels | Mvoxel/s "
        "| PSNR vs untiled (dB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, tile in settings.items():
        count = len(AxisTiling(args.plane, tile, 32).starts)
        rows.append(
            f"| {label}: {tile}×{tile} | {count**2} | {(count * tile / args.plane) ** 2:.2f} "
            f"| {volume.size / seconds[label] / 1e6:.3f} | {_psnr(outputs[label], untiled):.1f} |"
        )
    body = (
        f"Command: `python benchmarks/tile_size.py --slices {args.slices} --plane {args.plane} "
        f"--repeats {args.repeats} --threads {args.threads}`\n\n"
        f"Machine: {machine_info()}; torch threads {args.threads}; 1/5/15-minute load average "
        f"{load_before} before, {load_average()} after (cores shared with other jobs).\n\n"
        f"Input: {source}, {'×'.join(map(str, volume.shape))} uint8; default model "
        f"(window {window}), overlap 32, batch 4, in memory.\n\n" + "\n".join(rows)
    )
    publish("Tile size (benchmarks/tile_size.py)", body, record=not args.no_record)


if __name__ == "__main__":
    main()
