"""Throughput and peak memory of the whole-volume engine (issue: core engine).

    python benchmarks/engine.py            # all cases, records benchmarks/RESULTS.md
    python benchmarks/engine.py --big-gib 0.5 --no-record   # quicker look

Each case runs in its own process so its peak RSS (``memory.peak_rss_mib``) is its own:
- identity model on a synthetic 64×1024×1024 uint8 volume in memory: pure engine overhead;
- unet2p5d (random weights; speed only) on the same volume: a small real model;
- identity model, file to file, on a ≥ 4 GiB uncompressed (memory-mappable) TIFF: memory bound.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from memory import peak_rss_mib
from results import machine_info, update_section

SMALL_SHAPE = (64, 1024, 1024)
BIG_SLICE = (2048, 2048)


def _synthetic_volume(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """EM-like uint8 texture: smooth blobs plus noise (content does not change engine speed)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _case_in_memory(model_name: str) -> dict:
    from vemrestore import restore
    from vemrestore.models import create_model

    torch.set_num_threads(2)
    volume = _synthetic_volume(SMALL_SHAPE)
    model = create_model(model_name)
    start = time.perf_counter()
    restored = restore(volume, model)
    seconds = time.perf_counter() - start
    if model_name == "identity":
        assert np.array_equal(restored, volume), "identity engine must be exact"
    return {"voxels": volume.size, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}


def _case_big_file(workdir: Path) -> dict:
    from vemrestore import restore_file
    from vemrestore.checkpoint import save_checkpoint
    from vemrestore.config import NormalizationConfig
    from vemrestore.models import create_model

    torch.set_num_threads(2)
    source, target = workdir / "big.tif", workdir / "big_restored.tif"
    checkpoint = workdir / "identity.pt"
    save_checkpoint(checkpoint, create_model("identity"), NormalizationConfig())
    start = time.perf_counter()
    restore_file(source, target, checkpoint, overwrite=True)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    with tifffile.TiffFile(source) as a, tifffile.TiffFile(target) as b:
        depth = len(a.pages)
        for z in (0, depth // 2, depth - 1):
            assert np.array_equal(a.pages[z].asarray(), b.pages[z].asarray()), f"slice {z} differs"
        voxels = depth * BIG_SLICE[0] * BIG_SLICE[1]
        bigtiff = b.is_bigtiff
    target.unlink()
    return {"voxels": voxels, "seconds": seconds, "peak_rss_mib": peak, "output_bigtiff": bigtiff}


def _write_big_tiff(path: Path, gib: float) -> int:
    """Stream an uncompressed contiguous TIFF of about ``gib`` GiB; returns its slice count."""
    depth = int(np.ceil(gib * 2**30 / (BIG_SLICE[0] * BIG_SLICE[1])))
    block = _synthetic_volume((8, *BIG_SLICE), seed=1)
    slices = (block[z % len(block)] for z in range(depth))
    tifffile.imwrite(path, slices, shape=(depth, *BIG_SLICE), dtype=np.uint8, bigtiff=True)
    return depth


def _run_case(args: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"case {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["identity", "unet2p5d", "big"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).with_name("_work"))
    parser.add_argument("--big-gib", type=float, default=4.0)
    parser.add_argument("--no-record", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()

    if args.case == "big":
        print(json.dumps(_case_big_file(args.workdir)))
        return
    if args.case:
        print(json.dumps(_case_in_memory(args.case)))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in ("identity", "unet2p5d"):
        result = _run_case(["--case", name])
        rows.append((f"{name}, in memory, 64×1024×1024 uint8", result))
        print(rows[-1])
    big = args.workdir / "big.tif"
    depth = _write_big_tiff(big, args.big_gib)
    try:
        result = _run_case(["--case", "big", "--workdir", str(args.workdir)])
    finally:
        big.unlink(missing_ok=True)
    size_gib = depth * BIG_SLICE[0] * BIG_SLICE[1] / 2**30
    rows.append(
        (f"identity, TIFF file → TIFF file, {depth}×2048×2048 uint8 ({size_gib:.1f} GiB)", result)
    )
    print(rows[-1])

    table = ["| case | Mvoxel/s | seconds | peak RSS (MiB) |", "|---|---:|---:|---:|"]
    for label, r in rows:
        table.append(
            f"| {label} | {r['voxels'] / r['seconds'] / 1e6:.1f} | {r['seconds']:.1f} "
            f"| {r['peak_rss_mib']:.0f} |"
        )
    body = (
        f"Command: `python benchmarks/engine.py --big-gib {args.big_gib}`\n\n"
        f"Machine: {machine_info()}; torch threads 2. Default tiling (model window, 256, 256), "
        "overlap (window // 2, 32, 32), batch 4. Peak RSS is the whole process (Python, torch, "
        "input and output arrays for the in-memory cases).\n\n" + "\n".join(table)
    )
    if not args.no_record:
        update_section("Engine (benchmarks/engine.py)", body)
    print(body)


if __name__ == "__main__":
    main()
