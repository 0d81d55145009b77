"""Train the two models shipped in the package and write their model cards (run once).

    python demo/train_shipped_models.py [--minutes 12] [--shared ../shared/data]

Both are ``unet2p5d`` networks trained with vemrestore's own training API on the ISBI 2012
ssTEM training stack (30×512×512), with fast scans simulated by ``vemrestore.simulate`` and
the shipped reference profile (``make_demo_data.py``) at 4×, 8× and 16× (one volume each,
so one model serves a range of scan speeds):

- ``supervised_unet2p5d.pt``: (fast, slow) pairs, slow = the original images; one slice per
  window (2D), lr 1e-3, MSE: the best recipe of the search in ``benchmarks/RESULTS.md``
  (Quality against peers); a 2D model also assumes nothing about the section thickness of
  the user's data, which the 50 nm ISBI sections would otherwise teach it;
- ``self_supervised_unet2p5d.pt``: checkerboard self-supervision on the fast scans alone.

Each card states the data, noise, budget and the PSNR/SSIM on the ISBI *test* stack (never
trained on) at each speed-up, before and after restoration.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from vemrestore import restore
from vemrestore.config.training import TrainingConfig
from vemrestore.evaluation.scores import volume_quality
from vemrestore.model_io.files import load_checkpoint
from vemrestore.pretrained import REFERENCE_PROFILE, SELF_SUPERVISED, SUPERVISED
from vemrestore.simulate import load_profile, simulate_fast_scan
from vemrestore.training.run import train

TRAIN = "isbi2012_sstem_train_30x512x512.tif"
TEST = "isbi2012_sstem_test_30x512x512.tif"
SPEEDUPS = (4.0, 8.0, 16.0)


def evaluate(checkpoint: Path, clean_test: np.ndarray, profile) -> list[tuple[float, ...]]:
    """(speed-up, PSNR/SSIM noisy, PSNR/SSIM restored) on the test stack at each speed-up."""
    rows = []
    for speedup in SPEEDUPS:
        fast = simulate_fast_scan(clean_test, speedup, profile, seed=1000 + int(speedup))
        before = volume_quality(fast, clean_test)
        after = volume_quality(restore(fast, checkpoint), clean_test)
        rows.append((speedup, before.psnr, before.ssim, after.psnr, after.ssim))
        print(f"  {speedup:g}×: {before.psnr:.2f} dB → {after.psnr:.2f} dB", flush=True)
    return rows


def model_card(
    title: str, how: str, checkpoint: Path, rows: list, minutes: float, steps: int
) -> str:
    metadata = load_checkpoint(checkpoint).metadata
    config = metadata.get("config", {})
    table = "\n".join(
        f"| {k:g}× | {p0:.2f} | {s0:.3f} | {p1:.2f} | {s1:.3f} |" for k, p0, s0, p1, s1 in rows
    )
    return f"""# {title}

- **Network:** `{config.get("model", {}).get("name")}` {config.get("model", {}).get("params")},
  {checkpoint.stat().st_size / 2**20:.1f} MB.
- **Training:** {how}. Loss `{config.get("loss")}`, patches {config.get("patch_size")},
  batch {config.get("batch_size")}, Adam lr {config.get("optimizer", {}).get("lr")};
  budget {minutes:g} min wall-clock on 2 CPU cores ({steps} steps); best checkpoint by
  validation PSNR on the last slices of the training stack.
- **Data:** ISBI 2012 ssTEM training stack (Drosophila VNC, 4×4×50 nm, 30×512×512, uint8;
  Cardona et al., PLoS Biol 2010; non-commercial research use only).
- **Noise:** `vemrestore.simulate` with the shipped profile `{REFERENCE_PROFILE.name}`
  ({load_profile(REFERENCE_PROFILE).describe()}), fast scans at
  {", ".join(f"{k:g}×" for k in SPEEDUPS)}, one volume each.
- **Normalisation:** dtype range (uint8 / 255), stored in the checkpoint.
- **Made by:** `python demo/train_shipped_models.py --minutes {minutes:g}`.

## Quality on the ISBI 2012 test stack (30×512×512, never trained on)

Fast scans simulated with the same profile and other seeds; PSNR over the whole volume,
SSIM the slice mean (scikit-image's definition), data range 255.

| speed-up | PSNR fast (dB) | SSIM fast | PSNR restored (dB) | SSIM restored |
|---:|---:|---:|---:|---:|
{table}

Works best on EM of similar contrast and pixel size (a few nm) with shot-noise-dominated
fast-scan noise. For other samples, fine-tune with `vemrestore train ... --init` on a pilot.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).parent
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared" / "data")
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget per model")
    parser.add_argument(
        "--only", choices=("supervised", "self-supervised"), help="train one of the two"
    )
    args = parser.parse_args()
    profile = load_profile(REFERENCE_PROFILE)
    clean_train = tifffile.imread(args.shared / TRAIN)
    clean_test = tifffile.imread(args.shared / TEST)
    budget = {
        "epochs": None,
        "max_time": f"{round(args.minutes * 60)}s",
        "steps_per_epoch": 50,
        "batch_size": 4,
        "validation": {"patches": 8},
    }
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        tifffile.imwrite(work / "slow.tif", clean_train)
        fast = []
        for speedup in SPEEDUPS:
            path = work / f"fast_{speedup:g}x.tif"
            tifffile.imwrite(path, simulate_fast_scan(clean_train, speedup, profile, seed=7))
            fast.append(str(path))
        jobs = [
            (
                "Shipped supervised model",
                "supervised fast → slow (one pair per speed-up)",
                TrainingConfig(
                    data={"pairs": [{"fast": f, "slow": str(work / "slow.tif")} for f in fast]},
                    model={"name": "unet2p5d", "params": {"window": 1}},
                    optimizer={"lr": 1e-3},
                    loss="1*MSE",
                    **budget,
                ),
                SUPERVISED,
            ),
            (
                "Shipped self-supervised model",
                "checkerboard self-supervision on the fast scans alone (no slow scan)",
                TrainingConfig(data={"noisy": fast}, self_supervised={}, **budget),
                SELF_SUPERVISED,
            ),
        ]
        wanted = {"supervised": SUPERVISED, "self-supervised": SELF_SUPERVISED}.get(args.only)
        for title, how, config, target in jobs:
            if wanted is not None and target != wanted:
                continue
            print(f"training {target.name} for {args.minutes:g} min", flush=True)
            started = time.monotonic()
            result = train(config, work / target.stem)
            print(f"  {result.steps} steps in {(time.monotonic() - started) / 60:.1f} min")
            rows = evaluate(result.best, clean_test, profile)
            shutil.copyfile(result.best, target)
            card = model_card(title, how, target, rows, args.minutes, result.steps)
            target.with_suffix(".md").write_text(card)


if __name__ == "__main__":
    main()
