"""Checks behind the generalisation benchmark's self-supervised findings, on its own crops.

    python benchmarks/generalization_checks.py calibration     # fitted noise vs the truth
    python benchmarks/generalization_checks.py blur-floor      # registered scans' signal blur
    python benchmarks/generalization_checks.py self-ensemble   # generalist, 8-fold TTA
    python benchmarks/generalization_checks.py blend           # generalist + fitted Gaussian
    python benchmarks/generalization_checks.py keep-start      # SURE's keep-start call

- ``calibration``: ``calibrate_single`` on each test crop (``--crop calibration`` for the
  calibration crops) against the true noise (noisy − clean): electrons at white and the lag-1
  x/y correlations, as R2R uses them;
- ``blur-floor``: the PSNR of a registered scan's noise-free signal (shifted and shifted back
  with cubic splines, as ``degrade`` does; with and without the case's detector lag) against
  the clean crop: what a target that keeps that blur could at most cost;
- ``self-ensemble``: the shipped generalist alone and averaged over the 8 flips × 90°
  rotations of each tile (test-time augmentation), PSNR and seconds per cell;
- ``blend``: the generalist's weights with ``gaussian_blend`` 0-0.6 (its output averaged with
  the Gaussian of the input closest to it), first on crops of two *training* sources (ISBI
  test stack, NeuroProof cube 2) under the same noise grid, where the weight is chosen (best
  mean PSNR), then on the held-out test crops against the cached best classical filter.
- ``keep-start``: the self-supervised default (checkerboard from the generalist, 2.5 min ×
  2 threads) on the **calibration** crops of the held-out sources: SURE's estimated gain of
  fine-tuning beside its true gain, the true PSNR of each weight mix SURE scores and of the
  network the run keeps, and the mean PSNR a margin on the estimate would give (a margin, and
  whether the mixes pay, are decided here, never on the test crops); ``--lr`` sets the
  fine-tuning learning rate (default 2e-4, the benchmark's).

Same sources, cases, seeds and PSNR definition as ``generalization.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from generalization import CASES, DATA, HERE, SOURCES, best_classical, case_seed, crops, psnr, scan
from torch import nn

SEED_OFFSET = {"test": 0, "calibration": 500}


def calibration(crop: str) -> None:
    from vemrestore.simulate.calibration import calibrate_single

    print("| source | case | electrons: true / fitted | ρx true / fitted | ρy true / fitted |")
    print("|---|---|---:|---:|---:|")
    for source in SOURCES:
        part = crops(source)[crop]
        for case, noise in CASES.items():
            noisy, clean = scan(part, noise, case_seed(source, case) + SEED_OFFSET[crop])
            fit = calibrate_single(noisy)
            noise_only = noisy.astype(np.float64) - clean.astype(np.float64)
            true_x, true_y = np.median([_lag1(plane) for plane in noise_only], axis=0)
            print(
                f"| {source} | {case} | {noise.electrons:g} / "
                f"{fit.profile.electrons_per_unit:.1f} | {true_x:.2f} / {fit.x_correlation:.2f} "
                f"| {true_y:.2f} / {fit.y_correlation:.2f} |",
                flush=True,
            )


def _lag1(plane: np.ndarray) -> tuple[float, float]:
    """(x, y) lag-1 correlation coefficients of a noise image."""
    along_x = np.corrcoef(plane[:, 1:].ravel(), plane[:, :-1].ravel())[0, 1]
    along_y = np.corrcoef(plane[1:].ravel(), plane[:-1].ravel())[0, 1]
    return float(along_x), float(along_y)


def blur_floor() -> None:
    for source in SOURCES:
        clean8 = crops(source)["test"]
        for case, noise in CASES.items():
            if not noise.registered:
                continue
            seed = case_seed(source, case)
            noiseless = noise.model_copy(update={"electrons": 1e7, "read_noise": 0.0})
            lagged, clean = scan(clean8, noiseless, seed)
            shifted, _ = scan(clean8, noiseless.model_copy(update={"lag": 0.0}), seed)
            print(
                f"{source} | {case}: noise-free signal {psnr(shifted, clean):.2f} dB, "
                f"with the {noise.lag:g} px lag {psnr(lagged, clean):.2f} dB",
                flush=True,
            )


class _EightFold(nn.Module):
    """The mean of a network over the 8 flips × 90° rotations of its (square) tiles."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        for name in ("window", "accepts_any_window", "model_name"):
            if hasattr(network, name):
                setattr(self, name, getattr(network, name))

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        total = torch.zeros_like(tiles)
        for flipped in (False, True):
            view = tiles.flip(-1) if flipped else tiles
            for turns in range(4):
                out = self.network(torch.rot90(view, turns, (-2, -1)))
                out = torch.rot90(out, -turns, (-2, -1))
                total += out.flip(-1) if flipped else out
        return total / 8


def self_ensemble() -> None:
    from vemrestore import restore
    from vemrestore.model_io.files import as_checkpoint

    plain = as_checkpoint(HERE.parent / "src/vemrestore/pretrained/generalist_unet2p5d.pt")
    eightfold = dataclasses.replace(plain, model=_EightFold(plain.model))
    for source in SOURCES:
        part = crops(source)["test"]
        for case, noise in CASES.items():
            noisy, clean = scan(part, noise, case_seed(source, case))
            scores = []
            for checkpoint in (plain, eightfold):
                start = time.perf_counter()
                scores.append(
                    (psnr(restore(noisy, checkpoint), clean), time.perf_counter() - start)
                )
            (alone, alone_s), (eight, eight_s) = scores
            print(
                f"{source} | {case} | generalist {alone:.2f} dB ({alone_s:.1f} s) | 8-fold "
                f"{eight:.2f} dB ({eight_s:.1f} s) | {eight - alone:+.2f}",
                flush=True,
            )


BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
BLEND_CHOICE_CROPS = {
    "ISBI test stack": ("isbi2012_sstem_test_30x512x512.tif", np.s_[20:28, :256, :256]),
    "NeuroProof cube 2": ("neuroproof_fibsem_medulla_sample2_250x250x250.tif", np.s_[200:216]),
}


def blend() -> None:
    import tifffile

    from vemrestore import restore
    from vemrestore.model_io.files import as_checkpoint
    from vemrestore.models.registry import create_model

    shipped = as_checkpoint(HERE.parent / "src/vemrestore/pretrained/generalist_unet2p5d.pt")
    params = {k: v for k, v in shipped.model.model_params.items() if k != "gaussian_blend"}

    def with_weight(weight: float):  # the shipped weights, blended with ``weight``
        model = create_model(shipped.model.model_name, **params, gaussian_blend=weight)
        model.load_state_dict(shipped.model.state_dict())
        return dataclasses.replace(shipped, model=model.eval())

    checkpoints = {weight: with_weight(weight) for weight in BLEND_WEIGHTS}

    def row(label: str, noisy: np.ndarray, clean: np.ndarray) -> list[float]:
        scores = [psnr(restore(noisy, checkpoints[w]), clean) for w in BLEND_WEIGHTS]
        print(
            f"{label} | "
            + " | ".join(f"{w:.1f}: {v:.2f}" for w, v in zip(BLEND_WEIGHTS, scores, strict=True)),
            flush=True,
        )
        return scores

    choice = []
    for name, (file, region) in BLEND_CHOICE_CROPS.items():
        clean8 = tifffile.imread(DATA / file)[region]
        for index, (case, noise) in enumerate(CASES.items()):
            noisy, clean = scan(clean8, noise, 9000 + index)
            choice.append(row(f"training source {name} | {case}", noisy, clean))
    means = np.mean(choice, axis=0)
    chosen = BLEND_WEIGHTS[int(np.argmax(means))]
    print(
        "mean PSNR on the training sources: "
        + ", ".join(f"{w:.1f}: {m:.3f}" for w, m in zip(BLEND_WEIGHTS, means, strict=True))
        + f" -> weight {chosen}"
    )
    for source in SOURCES:
        part = crops(source)["test"]
        for case, noise in CASES.items():
            noisy, clean = scan(part, noise, case_seed(source, case))
            scores = row(f"held out {source} | {case}", noisy, clean)
            best = best_classical(source, case)
            print(
                f"  best classical {best:.2f}: generalist {scores[0] - best:+.2f}, "
                f"blend {chosen} {scores[BLEND_WEIGHTS.index(chosen)] - best:+.2f}",
                flush=True,
            )


KEEP_START_MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def keep_start(sources: list[str], *, lr: float) -> None:
    import tempfile
    from pathlib import Path

    from generalization import fine_tune

    from vemrestore import restore
    from vemrestore.pretrained import GENERALIST

    print(
        "| source | case | SURE gain (dB) | true gain (dB) | generalist | fine-tuned | "
        "mixes 25/50/75 % | kept (share) |"
    )
    print("|---|---|---:|---:|---:|---:|---|---|")
    rows = []
    for source in sources:
        part = crops(source)["calibration"]
        for case, noise in CASES.items():
            noisy, clean = scan(part, noise, case_seed(source, case) + SEED_OFFSET["calibration"])
            start = psnr(restore(noisy, GENERALIST), clean)
            with tempfile.TemporaryDirectory() as scratch:
                run = fine_tune(
                    "self-supervised default", noisy, 2.5, GENERALIST, Path(scratch), lr=lr
                )
            tuned = psnr(run.get("fine_tuned_restored", run["restored"]), clean)
            mixes = [psnr(image, clean) for image in run["mixes_restored"].values()]
            kept = psnr(run["restored"], clean)
            rows.append((run["sure_gain_db"], start, tuned, kept, max([start, tuned, *mixes])))
            print(
                f"| {source} | {case} | {run['sure_gain_db']:+.2f} | {tuned - start:+.2f} | "
                f"{start:.2f} | {tuned:.2f} | {' / '.join(f'{m:.2f}' for m in mixes)} | "
                f"{kept:.2f} ({run['kept_share']:.2f}) |",
                flush=True,
            )
    gains, starts, tuned, kept, best = (np.array(column) for column in zip(*rows, strict=True))
    print(
        f"mean PSNR: generalist {starts.mean():.3f}, fine-tuned {tuned.mean():.3f}, kept with "
        f"the mixes {kept.mean():.3f}, best of the five (oracle) {best.mean():.3f}"
    )
    for margin in KEEP_START_MARGINS:  # the better end only, as before the mixes
        ends = np.where(gains > margin, tuned, starts)
        print(f"ends only, margin {margin:.2f} dB: mean PSNR {ends.mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "check", choices=("calibration", "blur-floor", "self-ensemble", "blend", "keep-start")
    )
    parser.add_argument("--crop", choices=tuple(SEED_OFFSET), default="test")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sources", default=",".join(SOURCES), help="keep-start: which sources")
    parser.add_argument("--lr", type=float, default=2e-4, help="keep-start: fine-tuning lr")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.check == "calibration":
        calibration(args.crop)
    elif args.check == "blur-floor":
        blur_floor()
    elif args.check == "self-ensemble":
        self_ensemble()
    elif args.check == "keep-start":
        keep_start(args.sources.split(","), lr=args.lr)
    else:
        blend()


if __name__ == "__main__":
    main()
