"""Train the small model that ``make demo`` uses (run once; its output is committed).

    python demo/train_demo_model.py [--shared ../shared/data] [--minutes 10]

A stop-gap until the project's training commands exist: a plain supervised PyTorch loop on
(simulated 8× fast scan -> slow scan) pairs cut from real EM that the demo volume does not
contain (EPFL FIB-SEM slices 16-31 and the ISBI 2012 training stack). It saves
``src/vemrestore/pretrained/unet2p5d_fibsem.pt`` and prints the demo volume's PSNR before and
after restoration.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
import yaml
from make_demo_data import SOURCE, SPEEDUP, simulate_fast_scan

from vemrestore import restore
from vemrestore.checkpoint import save_checkpoint
from vemrestore.config import NormalizationConfig
from vemrestore.models import create_model

HERE = Path(__file__).parent
OUTPUT = HERE.parent / "src" / "vemrestore" / "pretrained" / "unet2p5d_fibsem.pt"
WINDOW, PATCH, BATCH = 5, 96, 8
PEAK_LR = 5e-4


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    mse = np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def sample_batch(volumes: list[np.ndarray], rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """Random WINDOW×PATCH×PATCH windows with flips/rotations; noise drawn afresh each time."""
    clean = []
    for _ in range(BATCH):
        volume = volumes[rng.integers(len(volumes))]
        z, y, x = (
            rng.integers(0, n - s + 1)
            for n, s in zip(volume.shape, (WINDOW, PATCH, PATCH), strict=True)
        )
        window = volume[z : z + WINDOW, y : y + PATCH, x : x + PATCH]
        window = np.rot90(window, rng.integers(4), axes=(1, 2))
        for axis in (0, 1, 2):
            if rng.random() < 0.5:
                window = np.flip(window, axis)
        clean.append(window)
    clean_batch = np.stack(clean)
    noisy = simulate_fast_scan(clean_batch, SPEEDUP, rng)
    return (
        torch.from_numpy(noisy.astype(np.float32) / 255),
        torch.from_numpy(clean_batch.astype(np.float32) / 255),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    volumes = [
        tifffile.imread(args.shared / SOURCE)[16:],
        tifffile.imread(args.shared / "isbi2012_sstem_train_30x512x512.tif"),
    ]
    model = create_model("unet2p5d", window=WINDOW)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR)
    start, step, budget = time.monotonic(), 0, args.minutes * 60
    while (elapsed := time.monotonic() - start) < budget:
        # Cosine decay over the wall-clock budget, and clipped gradients: without them a
        # normalisation-free U-Net at a constant 1e-3 was seen to diverge late in training.
        for group in optimizer.param_groups:
            group["lr"] = PEAK_LR * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        noisy, clean = sample_batch(volumes, rng)
        loss = torch.nn.functional.l1_loss(model(noisy), clean)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step}  L1 {loss.item():.4f}  {time.monotonic() - start:.0f} s")
    model.eval()

    fast = tifffile.imread(HERE / "fibsem_fast_16x256x256.tif")
    slow = tifffile.imread(HERE / "fibsem_slow_16x256x256.tif")
    restored = restore(fast, model)
    scores = {"psnr_fast_db": psnr(slow, fast), "psnr_restored_db": psnr(slow, restored)}
    print(scores)
    metadata = {
        "description": "demo model: unet2p5d trained on simulated 8x fast-scan noise "
        "(EPFL FIB-SEM slices 16-31 + ISBI 2012 train), uint8, dtype normalisation",
        "training_steps": step,
        "minutes": args.minutes,
        "peak_lr": PEAK_LR,
        "batch": BATCH,
        "patch": [WINDOW, PATCH, PATCH],
        "demo_scores": scores,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(OUTPUT, model, NormalizationConfig(), metadata)
    OUTPUT.with_suffix(".yaml").write_text(
        yaml.safe_dump(
            {
                "model": {"name": model.model_name, "params": model.model_params},
                "normalization": NormalizationConfig().model_dump(),
                **metadata,
            },
            sort_keys=False,
        )
    )


if __name__ == "__main__":
    main()
