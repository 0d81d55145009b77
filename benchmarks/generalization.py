"""Cross-source benchmark: restoration of EM no model saw, under a grid of fast-scan noise.

    python benchmarks/generalization.py                                  # classical + generalist
    python benchmarks/generalization.py --learned-minutes 2 --write      # + self-sup, ceiling

Test sources, fixed for the project and never trained on by any model in the tables:

- **EPFL FIB-SEM** (``isovem_epfl_fibsem_zsub8_32x256x256.tif``, CA1 hippocampus): test
  slices 16-31 (16×256×256); calibration crop slices 0-7;
- **CDeep3M SBEM** (``cdeep3m_sbem_mito_20x1024x1024.tif``): test slices 8-15, y/x 384-639
  (8×256×256); calibration crop slices 0-3, y/x 0-255; the in-domain ceiling trains on
  slices 0-7 and 16-19 (never the test slices).

Noise grid (``CASES``, ``vemrestore.simulate.family.ScanNoise``): shot noise from 500 down to
5 electrons at white, read noise, detector lag 0-1.5 px, line jitter, 8 and 16 bit, and a
registered-scan case (sub-pixel resampling). Each test crop is degraded slice by slice with a
fixed seed; 16-bit cases scale the 8-bit reference by 257.

Methods per (source, case):

- ``noisy``: the input;
- ``gaussian``: σ chosen on the calibration crop (grid 0.3-4 px); ``gaussian (oracle σ)``
  chooses σ on the test crop itself and is marked as an oracle;
- ``nlm``: scikit-image non-local means per slice, h chosen on the calibration crop;
- ``bm3d``: the ``bm3d`` package per slice with the noise power spectrum measured on the
  calibration crop (noisy − clean), which carries the lag/registration correlation; no VST;
- ``generalist``: the shipped generalist (``--generalist``), no training on the test data;
- ``self-supervised``: fine-tuned from the generalist on the noisy test crop itself
  (Recorrupted-to-Recorrupted with the noise calibrated on that crop, ``--learned-minutes``);
- ``checkerboard``: the default of ``vemrestore train self-supervised`` (diagonal sub-lattice
  pairs), from the generalist, same budget;
- ``neighbor2neighbor``: the checkerboard pairs plus Neighbor2Neighbor's consistency term
  against the full-resolution restoration (weight 1), from the generalist, same budget;
- ``in-domain ceiling``: the same network fine-tuned supervised on clean/noisy pairs of the
  test *source* (other slices) under the same noise, same budget;
- ``n2v`` / ``care``: the peers a user would pick instead, CAREamics N2V 2D trained on the
  noisy test crop itself and CAREamics CARE 2D trained on the ceiling's clean/noisy pairs,
  both from scratch (CAREamics ships no pretrained EM model) for ``--learned-minutes``, run
  in the throwaway venv of ``benchmarks/quality.py``.

PSNR: whole-volume MSE, data range of the dtype (255 or 65535), the project's one definition
(``vemrestore.evaluation.scores.volume_quality``). Results are cached per cell in
``benchmarks/_work/generalization/`` so an interrupted run keeps finished cells.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

from vemrestore.simulate.family import ScanNoise, degrade
from vemrestore.training.selection import StartComparison

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
CACHE = HERE / "_work" / "generalization"
FIGURE = HERE / "figures" / "generalization.png"

SOURCES = {
    "EPFL FIB-SEM": {
        "file": "isovem_epfl_fibsem_zsub8_32x256x256.tif",
        "test": (slice(16, 32), slice(0, 256), slice(0, 256)),
        "calibration": (slice(0, 8), slice(0, 256), slice(0, 256)),
        "training": (slice(0, 16), slice(0, 256), slice(0, 256)),
    },
    "CDeep3M SBEM": {
        "file": "cdeep3m_sbem_mito_20x1024x1024.tif",
        "test": (slice(8, 16), slice(384, 640), slice(384, 640)),
        "calibration": (slice(0, 4), slice(0, 256), slice(0, 256)),
        "training": (slice(0, 8), slice(0, 1024), slice(0, 1024)),
    },
}
CASES = {
    "500e": ScanNoise(electrons=500, read_noise=0.005),
    "100e lag0.7": ScanNoise(electrons=100, read_noise=0.01, lag=0.7, line_jitter=0.005),
    "50e registered": ScanNoise(electrons=50, read_noise=0.01, lag=0.5, registered=True),
    "20e lag1.5": ScanNoise(electrons=20, read_noise=0.01, lag=1.5, line_jitter=0.01),
    "5e lag1 16bit": ScanNoise(electrons=5, read_noise=0.02, lag=1.0, line_jitter=0.01, bits=16),
}
CLASSICAL = ("gaussian", "nlm", "bm3d")
GAUSSIAN_SIGMAS = (0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0)
NLM_H = (0.5, 0.7, 0.9, 1.1, 1.4)
SELF_SUPERVISED_METHODS: dict[str, dict[str, object]] = {
    "self-supervised": {"method": "recorrupted", "keep_start": False},
    "checkerboard": {"method": "checkerboard", "keep_start": False},
    "neighbor2neighbor": {"method": "neighbor2neighbor", "keep_start": False},
    "blind-spot": {"method": "blind_spot", "keep_start": False},
    "self-supervised default": {"method": "checkerboard"},
}
"""Benchmark method → ``self_supervised`` section (the R2R cells kept their first name). The
rows that measure a training scheme keep the fine-tuned network (``keep_start`` off); the
default also lets SURE keep the generalist, or a mix of its weights with the fine-tuned ones,
where that scores better (the cell then records the PSNR of the fine-tuned network and of every
mix as well). The ``sure`` row's cells were measured with ``self_supervised.method: sure`` at
commit 12211f7, removed since; the ``keep-start only`` row's are the default's of commit
07b089d, before the mixes (benchmarks/RESULTS.md)."""


# ---- data ----------------------------------------------------------------------------------


def crops(source: str) -> dict[str, np.ndarray]:
    spec = SOURCES[source]
    volume = tifffile.imread(DATA / spec["file"])
    return {part: volume[spec[part]] for part in ("test", "calibration", "training")}


def scan(clean8: np.ndarray, noise: ScanNoise, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, reference) in the case's dtype: slices degraded one by one (own shift each)."""
    rng = np.random.default_rng(seed)
    normalised = clean8.astype(np.float64) / 255.0
    noisy = np.stack([degrade(plane, noise, rng) for plane in normalised])
    if noise.bits == 16:
        return np.rint(noisy * 65535).astype(np.uint16), clean8.astype(np.uint16) * 257
    return np.rint(noisy * 255).astype(np.uint8), clean8


def case_seed(source: str, case: str) -> int:
    """The test noise seed of a cell; calibration and training crops add 500 and 700. From the
    case's place in the whole grid, so a run on a subset of ``--cases`` draws the same noise."""
    return 1000 * (list(SOURCES).index(source) + 1) + list(CASES).index(case)


def psnr(restored: np.ndarray, reference: np.ndarray) -> float:
    from vemrestore.evaluation.scores import default_data_range, volume_quality

    peak = default_data_range(reference)
    return volume_quality(np.clip(restored, 0, peak), reference, peak).psnr


# ---- classical baselines: parameters chosen on the calibration crop -------------------------


def gaussian(volume: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(volume.astype(np.float32), sigma=(0, sigma, sigma))


def nlm(volume: np.ndarray, h: float, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return np.stack(
        [
            denoise_nl_means(
                plane.astype(np.float32),
                h=h * sigma,
                sigma=sigma,
                patch_size=5,
                patch_distance=6,
                fast_mode=True,
            )
            for plane in volume
        ]
    )


def noise_psd(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """(Y, X) power spectrum of the noise, measured on the calibration crop (BM3D's input).

    bm3d's convention: |FFT|² unnormalised, so white noise of σ has the flat PSD ``Y·X·σ²``.
    """
    residual = noisy.astype(np.float64) - clean.astype(np.float64)
    residual -= residual.mean(axis=(1, 2), keepdims=True)
    return (np.abs(np.fft.fft2(residual)) ** 2).mean(axis=0)


def bm3d_slices(volume: np.ndarray, psd: np.ndarray, peak: float) -> np.ndarray:
    if not hasattr(np, "trapz"):  # bm4d 4.2.5's PSD path calls np.trapz, gone in NumPy 2.4
        np.trapz = np.trapezoid
    import bm3d

    scaled = psd / peak**2
    return np.stack([bm3d.bm3d(plane / peak, scaled) * peak for plane in volume.astype(np.float64)])


def best_on_calibration(
    restore: Callable[[np.ndarray, float], np.ndarray],
    values: tuple[float, ...],
    noisy: np.ndarray,
    clean: np.ndarray,
) -> float:
    scores = [psnr(restore(noisy, value), clean) for value in values]
    return values[int(np.argmax(scores))]


def classical(
    method: str, test: tuple[np.ndarray, np.ndarray], calibration: tuple[np.ndarray, np.ndarray]
) -> dict:
    (noisy, clean), (cal_noisy, cal_clean) = test, calibration
    peak = 65535.0 if clean.dtype == np.uint16 else 255.0
    start = time.perf_counter()
    if method == "gaussian":
        sigma = best_on_calibration(gaussian, GAUSSIAN_SIGMAS, cal_noisy, cal_clean)
        oracle = best_on_calibration(gaussian, GAUSSIAN_SIGMAS, noisy, clean)
        return {
            "psnr": psnr(gaussian(noisy, sigma), clean),
            "detail": f"σ {sigma:g} px",
            "oracle_psnr": psnr(gaussian(noisy, oracle), clean),
            "oracle_detail": f"σ {oracle:g} px",
            "seconds": time.perf_counter() - start,
        }
    sigma = float(np.std(cal_noisy.astype(np.float64) - cal_clean.astype(np.float64)))
    if method == "nlm":
        h = best_on_calibration(
            lambda v, value: nlm(v, value, sigma), NLM_H, cal_noisy[:2], cal_clean[:2]
        )
        restored, detail = nlm(noisy, h, sigma), f"h {h:g}σ"
    else:
        restored, detail = bm3d_slices(noisy, noise_psd(cal_noisy, cal_clean), peak), "noise PSD"
    return {
        "psnr": psnr(restored, clean),
        "detail": detail,
        "seconds": time.perf_counter() - start,
    }


# ---- learned methods ----------------------------------------------------------------------


def generalist(noisy: np.ndarray, checkpoint: Path) -> dict:
    from vemrestore import restore

    start = time.perf_counter()
    restored = restore(noisy, checkpoint)
    return {"restored": restored, "seconds": time.perf_counter() - start}


def fine_tune(
    method: str,
    noisy: np.ndarray,
    minutes: float,
    init: Path,
    work: Path,
    training_pair: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    lr: float = 2e-4,
) -> dict:
    """Fine-tune the generalist for ``minutes`` wall-clock, then restore ``noisy`` with it."""
    from vemrestore import restore
    from vemrestore.config.training import TrainingConfig
    from vemrestore.training.run import FINE_TUNED, train

    work.mkdir(parents=True, exist_ok=True)
    common = {
        "model": {"name": "unet2p5d", "params": {"window": 1}},
        "epochs": None,
        "max_time": f"{max(1, round(minutes * 60))}s",
        "steps_per_epoch": 25,
        "batch_size": 4,
        "patch_size": (96, 96),
        "validation": {"patches": 8, "axis": "z"},
        "optimizer": {"lr": lr},
        "loss": "1*MSE",
    }
    if method == "in-domain ceiling":
        assert training_pair is not None
        tifffile.imwrite(work / "fast.tif", training_pair[0], photometric="minisblack")
        tifffile.imwrite(work / "slow.tif", training_pair[1], photometric="minisblack")
        pairs = [{"fast": str(work / "fast.tif"), "slow": str(work / "slow.tif")}]
        config = TrainingConfig(**common, data={"pairs": pairs})
    else:
        tifffile.imwrite(work / "noisy.tif", noisy, photometric="minisblack")
        config = TrainingConfig(
            **common,
            data={"noisy": [str(work / "noisy.tif")]},
            self_supervised=SELF_SUPERVISED_METHODS[method],
        )
    start = time.perf_counter()
    result = train(config, work / "run", init=init)
    seconds = time.perf_counter() - start
    detail = f"{result.steps} steps"
    outcome = {"restored": restore(noisy, result.best), "seconds": seconds}
    if result.start_comparison is not None:
        comparison = result.start_comparison
        detail += f"; {comparison.describe()}; kept {comparison.kept()}"
        outcome["sure_gain_db"] = comparison.fine_tuned_psnr - comparison.start_psnr
        outcome["kept_share"] = comparison.best_share
        outcome["sure_mixed_gain_db"] = {
            str(share): estimate - comparison.start_psnr
            for share, estimate in comparison.mixed_psnr
        }
        set_aside = result.run_dir / FINE_TUNED
        if set_aside.is_file():
            outcome["fine_tuned_restored"] = restore(noisy, set_aside)
        outcome["mixes_restored"] = mixes_restored(
            noisy, init, set_aside if set_aside.is_file() else result.best, comparison, work
        )
    return {**outcome, "detail": detail}


def mixes_restored(
    noisy: np.ndarray, start: Path, fine_tuned: Path, comparison: StartComparison, work: Path
) -> dict[str, np.ndarray]:
    """``noisy`` restored by each weight mix SURE scored, so its choice can be checked."""
    from vemrestore import restore
    from vemrestore.model_io.checkpoint import save_checkpoint
    from vemrestore.model_io.files import load_checkpoint
    from vemrestore.training.selection import mixed

    start_model, tuned = load_checkpoint(start).model, load_checkpoint(fine_tuned)
    restored = {}
    for share, _ in comparison.mixed_psnr:
        path = work / f"mix{share}.pt"
        network = mixed(start_model, tuned.model, share)
        save_checkpoint(path, network, tuned.normalization, tuned.metadata)
        restored[str(share)] = restore(noisy, path)
    return restored


def careamics(
    algorithm: str,
    noisy: np.ndarray,
    minutes: float,
    work: Path,
    training_pair: tuple[np.ndarray, np.ndarray],
) -> dict:
    """Train a CAREamics peer for ``minutes`` wall-clock (N2V on ``noisy`` itself, CARE on
    ``training_pair``), then restore ``noisy`` with it, each in its own venv process."""
    from quality import predict_careamics, train_careamics

    test = work / "noisy.tif"
    tifffile.imwrite(test, noisy)
    fast, slow = test, test
    if algorithm == "care":
        fast, slow = work / "fast.tif", work / "slow.tif"
        tifffile.imwrite(fast, training_pair[0])
        tifffile.imwrite(slow, training_pair[1])
    checkpoint, info = train_careamics(algorithm, work, minutes, fast, slow)
    restored_path = work / "restored.tif"
    predicted = predict_careamics(checkpoint, test, test, restored_path)
    return {
        "restored": tifffile.imread(restored_path),
        "seconds": info["train_seconds"] + predicted["predict_seconds"],
        "detail": f"{info['steps']} steps",
    }


LEARNED = (*SELF_SUPERVISED_METHODS, "in-domain ceiling", "n2v", "care")
"""Methods that train on the test volume or source before restoring, at ``--learned-minutes``."""


def trained(
    method: str,
    test: tuple[np.ndarray, np.ndarray],
    training: tuple[np.ndarray, np.ndarray],
    args: argparse.Namespace,
) -> dict:
    """Train ``method`` (vemrestore from the generalist, or a CAREamics peer from scratch) in
    a scratch folder, restore the noisy test crop with it and score it."""
    noisy, clean = test
    minutes = args.learned_minutes
    with tempfile.TemporaryDirectory() as scratch:
        if method in ("n2v", "care"):
            result = careamics(method, noisy, minutes, Path(scratch), training)
        else:
            result = fine_tune(method, noisy, minutes, args.generalist, Path(scratch), training)
    if "fine_tuned_restored" in result:
        result["fine_tuned_psnr"] = psnr(result.pop("fine_tuned_restored"), clean)
    if "mixes_restored" in result:
        mixes = result.pop("mixes_restored")
        result["mixed_psnr"] = {share: psnr(image, clean) for share, image in mixes.items()}
    return {**result, "psnr": psnr(result["restored"], clean), "minutes": minutes}


# ---- the grid ------------------------------------------------------------------------------


def cell_path(source: str, case: str, method: str) -> Path:
    name = f"{source}__{case}__{method}".replace(" ", "_").replace("(", "").replace(")", "")
    return CACHE / f"{name}.json"


def run_cell(source: str, case: str, method: str, compute: Callable[[], dict]) -> dict:
    path = cell_path(source, case, method)
    if path.is_file():
        return json.loads(path.read_text())
    result = compute()
    result.pop("restored", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    print(f"  {source} | {case} | {method}: {result['psnr']:.2f} dB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--generalist",
        type=Path,
        default=HERE.parent / "src" / "vemrestore" / "pretrained" / "generalist_unet2p5d.pt",
    )
    parser.add_argument("--methods", default="classical,generalist")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--learned-minutes", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--write", action="store_true", help="tables into RESULTS.md + figure")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    wanted = set(args.methods.split(","))
    if "classical" in wanted:
        wanted |= set(CLASSICAL)
    for source in args.sources.split(","):
        parts = crops(source)
        for case in args.cases.split(","):
            noise = CASES[case]
            seed = case_seed(source, case)
            test = scan(parts["test"], noise, seed)
            calibration = scan(parts["calibration"], noise, seed + 500)
            training = scan(parts["training"], noise, seed + 700)
            noisy, clean = test
            run_cell(source, case, "noisy", lambda: {"psnr": psnr(noisy, clean)})  # noqa: B023
            for method in CLASSICAL:
                if method in wanted:
                    run_cell(
                        source,
                        case,
                        method,
                        lambda m=method: classical(m, test, calibration),  # noqa: B023
                    )
            if "generalist" in wanted:

                def learned() -> dict:
                    result = generalist(noisy, args.generalist)  # noqa: B023
                    return {**result, "psnr": psnr(result["restored"], clean)}  # noqa: B023

                run_cell(source, case, "generalist", learned)
            for method in LEARNED:
                if method in wanted:
                    run_cell(
                        source,
                        case,
                        method,
                        lambda m=method: trained(m, test, training, args),  # noqa: B023
                    )
    if args.write:
        write_report(args)


# ---- report --------------------------------------------------------------------------------

ROWS = (
    ("noisy", "noisy input"),
    ("gaussian", "Gaussian (σ from calibration crop)"),
    ("gaussian oracle", "Gaussian (oracle σ on the test crop)"),
    ("nlm", "non-local means (h from calibration crop)"),
    ("bm3d", "BM3D per slice (measured noise PSD)"),
    ("generalist", "**vemrestore generalist** (no training on test data)"),
    (
        "self-supervised default",
        "**vemrestore self-supervised default**: checkerboard, the best by SURE of generalist, "
        "fine-tuned and their weight mixes",
    ),
    (
        "keep-start only",
        "checkerboard, better of generalist and fine-tuned by SURE (the default of stop 26, "
        "before the weight mixes)",
    ),
    ("checkerboard", "vemrestore self-supervised, checkerboard (from generalist)"),
    ("sure", "SURE training (from generalist, removed again; kept by its own SURE check)"),
    ("self-supervised", "vemrestore self-supervised, R2R (from generalist)"),
    ("neighbor2neighbor", "vemrestore self-supervised, Neighbor2Neighbor (from generalist)"),
    (
        "blind-spot",
        "vemrestore self-supervised, blind-spot boxes sized to the calibrated correlation "
        "(from generalist)",
    ),
    ("in-domain ceiling", "ceiling: supervised in-domain (from generalist)"),
    ("n2v", "CAREamics N2V 2D (self-supervised on the test crop, from scratch)"),
    ("care", "CAREamics CARE 2D (supervised in-domain, from scratch)"),
)


def load_cell(source: str, case: str, method: str) -> dict | None:
    if method == "gaussian oracle":
        cell = load_cell(source, case, "gaussian")
        if cell is None:
            return None
        return {"psnr": cell["oracle_psnr"], "detail": cell["oracle_detail"]}
    path = cell_path(source, case, method)
    return json.loads(path.read_text()) if path.is_file() else None


def best_classical(source: str, case: str) -> float:
    cells = [load_cell(source, case, m) for m in CLASSICAL]
    return max(c["psnr"] for c in cells if c is not None)


def write_report(args: argparse.Namespace) -> None:
    cases = args.cases.split(",")
    lines = []
    for source in args.sources.split(","):
        lines += [
            f"### {source}",
            "",
            "| method | " + " | ".join(cases) + " |",
            "|---|" + "---:|" * len(cases),
        ]
        for method, label in ROWS:
            cells = [load_cell(source, case, method) for case in cases]
            if all(c is None for c in cells):
                continue
            text = []
            for case, cell in zip(cases, cells, strict=True):
                if cell is None:
                    text.append("—")
                    continue
                entry = f"{cell['psnr']:.2f}"
                if method not in ("noisy", *CLASSICAL, "gaussian oracle"):
                    entry += f" ({cell['psnr'] - best_classical(source, case):+.2f})"
                text.append(entry)
            lines.append(f"| {label} | " + " | ".join(text) + " |")
        lines.append("")
    table = "\n".join(lines)
    print(table)
    plot(args, cases)
    (CACHE / "tables.md").write_text(table)


def plot(args: argparse.Namespace, cases: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = args.sources.split(",")
    shown = ("generalist", "self-supervised default", "n2v", "in-domain ceiling")
    methods = [m for m, _ in ROWS if m in shown]
    figure, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 3.2), squeeze=False)
    for index, (axis, method) in enumerate(zip(axes[0], methods, strict=True)):
        grid = np.full((len(sources), len(cases)), np.nan)
        for i, source in enumerate(sources):
            for j, case in enumerate(cases):
                cell = load_cell(source, case, method)
                if cell is not None:
                    grid[i, j] = cell["psnr"] - best_classical(source, case)
        image = axis.imshow(grid, cmap="RdBu", vmin=-3, vmax=3)
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                colour = "white" if abs(value) > 2 else "black"  # readable on dark cells
                axis.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=8, color=colour)
        axis.set_xticks(range(len(cases)), cases, rotation=30, ha="right", fontsize=7)
        axis.set_yticks(range(len(sources)), sources if index == 0 else [], fontsize=7)
        axis.set_title(f"{method} − best classical (dB)", fontsize=9)
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    FIGURE.parent.mkdir(exist_ok=True)
    figure.savefig(FIGURE, dpi=120, bbox_inches="tight")


if __name__ == "__main__":
    sys.exit(main())
