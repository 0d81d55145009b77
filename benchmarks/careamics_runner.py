"""Train or apply a CAREamics model (N2V or CARE, 2D) inside CAREamics' own throwaway venv.

Run by ``benchmarks/quality.py`` with the interpreter of ``benchmarks/.venv-careamics``;
it never imports vemrestore, and vemrestore never imports CAREamics. Training and
prediction run as separate processes so that prediction's peak memory is its own.

    python careamics_runner.py train --algorithm n2v --train-noisy a.tif --minutes 5 \
        --work-dir W            # prints the best checkpoint path
    python careamics_runner.py predict --checkpoint C --test-noisy b.tif --out r.tif

The registry's torchvision builds are CUDA builds whose C++ operators do not load beside the
CPU torch; CAREamics only needs torchvision's Python transforms, so the one operator schema
torchvision registers a fake kernel for (``nms``) is declared before it is imported.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

_TORCHVISION_OPS = torch.library.Library("torchvision", "DEF")
_TORCHVISION_OPS.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")

from careamics import CAREamist  # noqa: E402 - needs the operator declared above
from careamics.config import create_care_config, create_n2v_config  # noqa: E402
from lightning.pytorch import seed_everything  # noqa: E402
from lightning.pytorch.callbacks import Timer  # noqa: E402
from memory import peak_rss_mib  # noqa: E402 - benchmarks/memory.py, beside this script

PATCH = (64, 64)
BATCH = 16


def train(args: argparse.Namespace) -> None:
    """Train for a wall-clock budget; write the best checkpoint path and step count as JSON."""
    seed_everything(args.seed)
    noisy = tifffile.imread(args.train_noisy).astype(np.float32)
    common = {
        "experiment_name": f"benchmark-{args.algorithm}",
        "data_type": "array",
        "axes": "SYX",
        "patch_size": PATCH,
        "batch_size": BATCH,
        "num_epochs": 100000,
        "augmentations": ["x_flip", "y_flip", "rotate_90"],
    }
    if args.algorithm == "n2v":
        config, targets = create_n2v_config(**common), None
    else:
        config = create_care_config(**common)
        targets = tifffile.imread(args.train_clean).astype(np.float32)
    timer = Timer(duration={"seconds": args.minutes * 60.0}, interval="step")
    careamist = CAREamist(
        config, work_dir=args.work_dir, callbacks=[timer], enable_progress_bar=False
    )
    start = time.perf_counter()
    careamist.train(train_data=noisy, train_data_target=targets)
    checkpoint = careamist.trainer.checkpoint_callback.best_model_path
    if not checkpoint:  # the budget ended inside the first epoch: no validation checkpoint yet
        checkpoint = str(args.work_dir / "final.ckpt")
        careamist.trainer.save_checkpoint(checkpoint)
    summary = {
        "checkpoint": checkpoint,
        "train_seconds": time.perf_counter() - start,
        "steps": careamist.trainer.global_step,
    }
    (args.work_dir / "train.json").write_text(json.dumps(summary, indent=2))


def predict(args: argparse.Namespace) -> None:
    """Restore a (Z, Y, X) stack slice-wise with tiles; write float32 TIFF and timing JSON."""
    careamist = CAREamist(checkpoint_path=args.checkpoint, enable_progress_bar=False)
    test = tifffile.imread(args.test_noisy).astype(np.float32)
    start = time.perf_counter()
    predictions = careamist.predict(test, axes="SYX", tile_size=(256, 256), tile_overlap=(48, 48))
    seconds = time.perf_counter() - start
    restored = np.concatenate([np.asarray(p).reshape(-1, *test.shape[1:]) for p in predictions])
    tifffile.imwrite(args.out, restored.astype(np.float32))
    summary = {
        "predict_seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
    }
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    training = commands.add_parser("train")
    training.add_argument("--algorithm", choices=("n2v", "care"), required=True)
    training.add_argument("--train-noisy", type=Path, required=True)
    training.add_argument("--train-clean", type=Path, help="Targets (CARE only).")
    training.add_argument("--minutes", type=float, default=5.0)
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--work-dir", type=Path, required=True)
    prediction = commands.add_parser("predict")
    prediction.add_argument("--checkpoint", type=Path, required=True)
    prediction.add_argument("--test-noisy", type=Path, required=True)
    prediction.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    train(args) if args.command == "train" else predict(args)


if __name__ == "__main__":
    main()
