"""Supervised fast → slow training on ISBI 2012 ssTEM with simulated fast-scan noise.

The original images play the slow scan; the fast scan is the same volume with
Poisson-Gaussian noise calibrated to ~18 dB PSNR. Four runs of ``--minutes`` each on the
train volume (unet2p5d and gshift, plain and key-slice mode, period 4), evaluated on the
test volume with the same noise. Key-slice scores are over the fast (non-key) slices only.

    python benchmarks/supervised.py                # 4 × 15 minutes
    python benchmarks/supervised.py --minutes 1 --models unet2p5d   # smoke run
Only a full run (≥ 15 minutes, both networks) updates RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from results import machine_info, update_section

from vemrestore import restore
from vemrestore.api import restore_key_slices
from vemrestore.config.training import TrainingConfig, with_key_slices
from vemrestore.evaluation.metrics import volume_scores
from vemrestore.tasks.key_slices import key_positions, simulate_key_slices
from vemrestore.training.run import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN = DATA / "isbi2012_sstem_train_30x512x512.tif"
TEST = DATA / "isbi2012_sstem_test_30x512x512.tif"
TARGET_PSNR = 18.0
READ_NOISE = 0.02
PERIOD = 4


def add_noise(clean: np.ndarray, photons: float, seed: int) -> np.ndarray:
    """Poisson-Gaussian fast-scan noise on a (Z, Y, X) uint8 volume; returns uint8."""
    rng = np.random.default_rng(seed)
    signal = clean.astype(np.float64) / 255.0
    noisy = rng.poisson(signal * photons) / photons + rng.normal(0.0, READ_NOISE, clean.shape)
    return np.clip(np.rint(noisy * 255.0), 0, 255).astype(np.uint8)


def calibrate_photons(clean: np.ndarray) -> float:
    """Photon count per unit intensity that gives ~TARGET_PSNR dB (bisection in log space)."""
    low, high = 0.1, 1000.0
    for _ in range(30):
        photons = float(np.sqrt(low * high))
        score, _ = volume_scores(add_noise(clean[:4], photons, 0), clean[:4], 255.0)
        low, high = (photons, high) if score < TARGET_PSNR else (low, photons)
    return photons


def scores(restored: np.ndarray, clean: np.ndarray, slices: np.ndarray) -> tuple[float, float]:
    return volume_scores(restored[slices], clean[slices], 255.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training time per run")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--models", nargs="+", default=["unet2p5d", "gshift"], help="networks to train"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    clean_train, clean_test = tifffile.imread(TRAIN), tifffile.imread(TEST)
    photons = calibrate_photons(clean_train)
    fast_train = add_noise(clean_train, photons, 1)
    fast_test = add_noise(clean_test, photons, 2)
    all_slices = np.arange(clean_test.shape[0])
    fast_slices = np.setdiff1d(all_slices, key_positions(clean_test.shape[0], PERIOD))
    rows = [
        ("noisy input", "plain", *scores(fast_test, clean_test, all_slices), "—"),
        ("noisy input", "key slices", *scores(fast_test, clean_test, fast_slices), "—"),
    ]
    seconds = max(1, round(args.minutes * 60))
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        tifffile.imwrite(work / "train_fast.tif", fast_train)
        tifffile.imwrite(work / "train_slow.tif", clean_train)
        for model in args.models:
            for mode in ("plain", "key slices"):
                config = TrainingConfig(
                    model={"name": model},
                    data={"folder": str(work)},
                    epochs=None,
                    max_time=f"{seconds}s",
                    steps_per_epoch=50,
                    batch_size=args.batch_size,
                    validation={"patches": 8},
                )
                if mode == "key slices":
                    config = with_key_slices(config, PERIOD)
                run = work / f"{model}-{mode.replace(' ', '-')}"
                started = time.monotonic()
                result = train(config, run)
                elapsed = time.monotonic() - started
                if mode == "plain":
                    restored = restore(fast_test, result.best)
                    psnr, ssim = scores(restored, clean_test, all_slices)
                else:
                    acquisition = simulate_key_slices(fast_test, clean_test, PERIOD)
                    restored = restore_key_slices(acquisition, result.best, period=PERIOD)
                    psnr, ssim = scores(restored, clean_test, fast_slices)
                rows.append((model, mode, psnr, ssim, f"{result.steps} / {elapsed / 60:.1f} min"))
                print(f"{model:10s} {mode:10s} PSNR {psnr:6.2f} dB  SSIM {ssim:.3f}", flush=True)
    table = "\n".join(
        f"| {name} | {mode} | {psnr:.2f} | {ssim:.3f} | {steps} |"
        for name, mode, psnr, ssim, steps in rows
    )
    threads = torch.get_num_threads()
    command = f"python benchmarks/supervised.py --minutes {args.minutes:g} --threads {threads}"
    body = f"""Command: `{command}`

Machine: {machine_info()}; torch threads {torch.get_num_threads()}, fp32.
Data: ISBI 2012 ssTEM, train {TRAIN.name} / test {TEST.name}; slow = the original images,
fast = Poisson-Gaussian noise ({photons:.2f} photons per unit intensity, read noise
{READ_NOISE} of full scale), {TARGET_PSNR:g} dB target. Training: default networks, patches
5×128×128, batch {args.batch_size}, 1*L1+1*SSIM, Adam 2e-4, validation on the last slices of
the train volume, best checkpoint by validation PSNR. Key slices: period {PERIOD}, slow at
z = 0, 4, 8, …; scores over the fast slices only.

| network | mode | PSNR (dB) | SSIM | steps / training time |
|---|---|---:|---:|---:|
{table}
"""
    print(body)
    if args.minutes >= 15 and len(args.models) == 2:
        update_section("Supervised training (benchmarks/supervised.py)", body)


if __name__ == "__main__":
    main()
