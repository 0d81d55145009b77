"""Quality benchmark: vemrestore against classical filters and CAREamics on real EM.

    python benchmarks/quality.py --minutes 3 --speedups 8          # one noise level
    python benchmarks/quality.py --minutes 5 --speedups 4,8,16     # the full table

Clean references: ISBI 2012 ssTEM train (training) and test (evaluation), and the EPFL
FIB-SEM crop (a second test, never trained on). Fast scans are simulated with
``vemrestore.simulate`` and a profile calibrated on the real low-SNR SEM image, which is
taken to be a 16× fast scan of the reference (its dwell time is not stated; the EMDiffuse
low-SNR images were 9-72× faster than their 36 µs reference). Every trained method gets the
same wall-clock budget on the same data; restoring is timed in a fresh process so its peak
memory is its own. CAREamics runs from its own throwaway venv (``careamics_runner.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
SEM = DATA / "emdiffuse_mouse_cortex_sem_noisy_1x1600x1600_uint16.tif"
TRAIN = DATA / "isbi2012_sstem_train_30x512x512.tif"
TESTS = {
    "ISBI test": (DATA / "isbi2012_sstem_test_30x512x512.tif", 4.0),
    "EPFL FIB-SEM": (DATA / "isovem_epfl_fibsem_zsub8_32x256x256.tif", 5.0),
}
SEM_SPEEDUP = 16.0
PERIOD = 4
CARE_VENV = HERE / ".venv-careamics"
CACHE = HERE / "_work" / "quality"
GSHIFT_BATCH = 1
"""gshift trains at batch 1: at batch 4 its CPU training took ~18 GiB (supervised) and was
killed for memory (self-supervised, 24 GiB machine)."""
SUPERVISED_2D = {
    "model": {"name": "unet2p5d", "params": {"window": 1}},
    "optimizer": {"lr": 1e-3},
    "loss": "1*MSE",
}
"""The best supervised recipe of the search in RESULTS.md (chosen on ISBI test, so its row is
optimistic): one slice per window, as CARE 2D, with a higher learning rate and MSE."""
CROP = (slice(12, 20), slice(128, 384), slice(128, 384))
"""8 slices × 256×256 of each test volume (key slices at z = 12 and 16). gshift restores only
this crop: its tiled restore of a whole 30×512×512 volume took > 16 min on 2 cores. Every
method is also scored on it, so gshift rows compare with the others there."""
CARE_REQUIREMENTS = [
    "bioimageio-core<=0.11.0,>=0.9.0",
    "lightning<=2.6.6,!=2.6.2,!=2.6.3",
    "matplotlib<=3.11.2",
    "microssim<=0.0.5",
    "numpy<=2.4.6",
    "pillow<=13.0.0",
    "psutil<=7.2.2",
    "pydantic<=2.14.1,>=2.11",
    "pyyaml<=6.0.3",
    "scikit-image<=0.26.0",
    "tifffile<=2026.3.3",
    "torchmetrics<1.9.0",
    "zarr>=3,<4",
    "bm4d",
]


def reference_profile() -> tuple[Any, str]:
    """The shipped reference profile (``demo/make_demo_data.py``: the real SEM image's fit,
    read as a 16× fast scan) and the fit it came from, re-run here for the record."""
    from vemrestore.pretrained import REFERENCE_PROFILE
    from vemrestore.simulate import calibrate_single, load_profile

    fit = calibrate_single(tifffile.imread(SEM))
    return load_profile(REFERENCE_PROFILE), fit.summary()


# ---- methods: each restores a (Z, Y, X) uint8 test volume; run in a fresh process ----------


def _gaussian(volume: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(volume.astype(np.float32), sigma=(0, sigma, sigma))


def _nlm(volume: np.ndarray, sigma: float) -> np.ndarray:
    """Slice-wise non-local means, h = 0.8 σ with σ measured on the training pair (as BM4D)."""
    from skimage.restoration import denoise_nl_means

    image = volume.astype(np.float32) / 255.0
    restored = [
        denoise_nl_means(
            s, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True
        )
        for s in image
    ]
    return np.stack(restored) * 255.0


def _vemrestore(volume: np.ndarray, checkpoint: str, key_period: int | None) -> np.ndarray:
    from vemrestore import restore, restore_key_slices

    if key_period:
        return restore_key_slices(volume, checkpoint, period=key_period)
    return restore(volume, checkpoint)


def _timed(function: Callable[..., np.ndarray], out: str, kwargs: dict[str, Any]) -> dict:
    """Child-process body: restore, save, and report wall time and this process's peak RSS."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    volume = tifffile.imread(kwargs.pop("volume_path"))
    start = time.perf_counter()
    restored = function(volume, **kwargs)
    seconds = time.perf_counter() - start
    tifffile.imwrite(out, np.asarray(restored, dtype=np.float32))
    from memory import peak_rss_mib  # benchmarks/ is on the spawned child's path

    return {"predict_seconds": seconds, "peak_rss_mib": peak_rss_mib()}


def run_isolated(function: Callable[..., np.ndarray], out: Path, **kwargs: Any) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_timed, (function, str(out), kwargs))


# ---- training ------------------------------------------------------------------------------


def train_vemrestore(
    model: str, mode: str, work: Path, minutes: float, train_fast: Path, train_clean: Path
) -> tuple[str, dict]:
    """Train one vemrestore model for ``minutes``; returns (best checkpoint, summary)."""
    from vemrestore.config.training import TrainingConfig, with_key_slices
    from vemrestore.training.run import train

    common = {
        "model": {"name": model},
        "epochs": None,
        "max_time": f"{max(1, round(minutes * 60))}s",
        "steps_per_epoch": 25,
        "batch_size": GSHIFT_BATCH if model == "gshift" else 4,
        "validation": {"patches": 8},
    }
    if mode == "self-supervised":
        config = TrainingConfig(**common, data={"noisy": [str(train_fast)]}, self_supervised={})
    else:
        pairs = [{"fast": str(train_fast), "slow": str(train_clean)}]
        if mode == "supervised 2D":
            common.update(SUPERVISED_2D)
        config = TrainingConfig(**common, data={"pairs": pairs})
        if mode == "key slices":
            config = with_key_slices(config, PERIOD)
    run = work / f"run-{model}-{mode.replace(' ', '-')}"
    start = time.perf_counter()
    result = train(config, run)
    return str(result.best), {"train_seconds": time.perf_counter() - start, "steps": result.steps}


def careamics_python() -> Path:
    """The throwaway CAREamics venv's interpreter, created on first use (see module doc)."""
    python = CARE_VENV / "bin" / "python"
    if python.exists():
        return python
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([sys.executable, "-m", "venv", str(CARE_VENV)], check=True)
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "--no-deps", "careamics==0.3.5", "torchvision==0.26.0"], check=True)
    subprocess.run([*pip, "torch==2.13.0", *CARE_REQUIREMENTS], check=True)
    return python


def train_careamics(
    algorithm: str, work: Path, minutes: float, train_fast: Path, train_clean: Path
) -> tuple[str, dict]:
    folder = work / f"careamics-{algorithm}"
    folder.mkdir()
    command = [
        str(careamics_python()),
        str(HERE / "careamics_runner.py"),
        "train",
        "--algorithm",
        algorithm,
        "--train-noisy",
        str(train_fast),
        "--minutes",
        str(minutes),
        "--work-dir",
        str(folder),
    ]
    if algorithm == "care":
        command += ["--train-clean", str(train_clean)]
    subprocess.run(command, check=True, capture_output=True, cwd=folder)
    summary = json.loads((folder / "train.json").read_text())
    return summary.pop("checkpoint"), summary


def predict_careamics(checkpoint: str, test: Path, keys: Path, out: Path) -> dict:
    subprocess.run(
        [
            str(careamics_python()),
            str(HERE / "careamics_runner.py"),
            "predict",
            "--checkpoint",
            checkpoint,
            "--test-noisy",
            str(test),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=out.parent,  # CAREamics writes csv_logs/ into the working folder
    )
    return json.loads(out.with_suffix(".json").read_text())


def _bm4d(test: Path, keys: Path, out: Path, sigma: float) -> dict:
    code = (
        "import bm4d, json, sys, time, tifffile, numpy as np\n"
        "sys.path.insert(0, sys.argv[4]); from memory import peak_rss_mib\n"
        "v = tifffile.imread(sys.argv[1]).astype(np.float32) / 255\n"
        "t = time.perf_counter(); r = bm4d.bm4d(v, float(sys.argv[3])) * 255\n"
        "s = time.perf_counter() - t; tifffile.imwrite(sys.argv[2], r.astype(np.float32))\n"
        "print(json.dumps({'predict_seconds': s, 'peak_rss_mib': peak_rss_mib()}))\n"
    )
    done = subprocess.run(
        [str(careamics_python()), "-c", code, str(test), str(out), str(sigma), str(HERE)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- scoring and report --------------------------------------------------------------------


def score(restored: np.ndarray, clean: np.ndarray, pixel_nm: float) -> dict[str, float]:
    """Scores on the whole volume and on ``CROP``; a restored crop alone gets the crop's."""
    from vemrestore.evaluation.frc import frc, mean_curve
    from vemrestore.evaluation.scores import volume_quality

    restored = np.clip(restored, 0, 255)
    whole_volume = restored.shape == clean.shape
    crop = volume_quality(restored[CROP] if whole_volume else restored, clean[CROP], 255.0)
    if not whole_volume:
        nan = float("nan")
        return {"psnr": nan, "ssim": nan, "psnr_fast": nan, "frc_nm": nan, "psnr_crop": crop.psnr}
    fast = np.setdiff1d(np.arange(len(clean)), np.arange(0, len(clean), PERIOD))
    whole = volume_quality(restored, clean, 255.0)
    between = volume_quality(restored[fast], clean[fast], 255.0)
    curve = mean_curve([frc(r, c, pixel_nm) for r, c in zip(restored, clean, strict=True)])
    return {
        "psnr": whole.psnr,
        "ssim": whole.ssim,
        "psnr_fast": between.psnr,
        "frc_nm": curve.resolution_nm(),
        "psnr_crop": crop.psnr,
    }


def panel(volume: np.ndarray, full_shape: tuple[int, ...]) -> np.ndarray:
    """The middle slice's central 128×128 of a whole test volume or of its ``CROP``."""
    offsets = (0, 0, 0) if volume.shape == full_shape else tuple(c.start for c in CROP)
    z, y, x = (s - o for s, o in zip((full_shape[0] // 2, 192, 192), offsets, strict=True))
    return volume[z, y : y + 128, x : x + 128]


def crops_panel(panels: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 4
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows))
    for axis in axes.ravel():
        axis.axis("off")
    for axis, (name, crop) in zip(axes.ravel(), panels.items(), strict=False):
        axis.imshow(crop, cmap="gray", vmin=0, vmax=255)
        axis.set_title(name, fontsize=9)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per method")
    parser.add_argument("--speedups", default="8", help="comma-separated, e.g. 4,8,16")
    parser.add_argument("--skip", nargs="*", default=[], help="method names to leave out")
    parser.add_argument(
        "--bm4d-at", default="8", help="speed-ups at which to run BM4D (slow: ~30 kvoxel/s)"
    )
    parser.add_argument("--slices", type=int, default=None, help="use the first N slices only")
    parser.add_argument("--write", action="store_true", help="record in RESULTS.md")
    parser.add_argument("--notes", default="", help="text recorded under the table")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from results import machine_info, update_section

    from vemrestore.simulate import simulate_fast_scan
    from vemrestore.tasks.key_slices import simulate_key_slices

    profile, calibration = reference_profile()
    print(calibration, f"\nreference profile: {profile.describe()}", flush=True)
    first = slice(0, args.slices)
    clean_train = tifffile.imread(TRAIN)[first]
    tests = {name: (tifffile.imread(path)[first], nm) for name, (path, nm) in TESTS.items()}
    lines, figures = [], []
    for speedup in (float(s) for s in args.speedups.split(",")):
        rows: list[tuple[str, str, dict, dict, dict]] = []
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            train_fast, train_clean = work / "train_fast.tif", work / "train_clean.tif"
            tifffile.imwrite(train_fast, simulate_fast_scan(clean_train, speedup, profile, 1))
            tifffile.imwrite(train_clean, clean_train)
            test_paths = {}
            for index, (name, (clean, _)) in enumerate(tests.items()):
                fast = simulate_fast_scan(clean, speedup, profile, 100 + index)
                test_paths[name] = (work / f"test{index}.tif", work / f"keys{index}.tif")
                tifffile.imwrite(test_paths[name][0], fast)
                keys = simulate_key_slices(fast, clean, PERIOD)
                tifffile.imwrite(test_paths[name][1], keys)
                for path, volume in zip(test_paths[name], (fast, keys), strict=True):
                    tifffile.imwrite(_crop_path(path), volume[CROP])
            plans = method_plans(args, work, train_fast, train_clean, clean_train, speedup)
            cache = CACHE / f"{speedup:g}x-{args.minutes:g}min-{args.slices or 'all'}"
            cache.mkdir(parents=True, exist_ok=True)
            panels: dict[str, np.ndarray] = {}
            for label, prepare in plans:
                slug = "".join(c if c.isalnum() else "_" for c in label)
                row_file, panel_file = cache / f"{slug}.json", cache / f"{slug}.npy"
                if row_file.exists():
                    row = json.loads(row_file.read_text())
                    panels[label] = np.load(panel_file)
                else:
                    label, detail, run, info = prepare()
                    results = {}
                    for index, (name, (clean, nm)) in enumerate(tests.items()):
                        out = work / f"restored-{slug}-{index}.tif"
                        timing = run(*test_paths[name], out)
                        restored = tifffile.imread(out).astype(np.float32)
                        seconds = timing.get("predict_seconds")
                        speed = restored.size / seconds if seconds else float("nan")
                        results[name] = {
                            **score(restored, clean, nm),
                            **timing,
                            "voxels_per_s": speed,
                        }
                        if index == 0:
                            panels[label] = np.clip(panel(restored, clean.shape), 0, 255)
                    row = [label, detail, info, *results.values()]
                    np.save(panel_file, panels[label])
                    row_file.write_text(json.dumps(row))
                rows.append(tuple(row))
                isbi = row[3]
                print(
                    f"{speedup:g}× {label:38s} PSNR {isbi['psnr']:6.2f} SSIM "
                    f"{isbi['ssim']:.3f} FRC {isbi['frc_nm']:.1f} nm",
                    flush=True,
                )
            reference = tests["ISBI test"][0]
            panels["reference"] = panel(reference, reference.shape)
            figure = HERE / "figures" / f"quality_{speedup:g}x.png"
            crops_panel(panels, figure, f"ISBI test, middle slice, {speedup:g}× fast scan")
            figures.append(figure)
        lines.append(_table(speedup, rows))
    body = _report(args, profile, calibration, lines, figures, machine_info())
    print(body)
    if args.write:
        update_section("Quality against peers (issue 8, benchmarks/quality.py)", body)


Method = tuple[str, str, Callable[[Path, Path, Path], dict], dict]
"""(label, detail, restore(test, key-slice test, out) -> timing, training summary)."""


def method_plans(
    args: argparse.Namespace,
    work: Path,
    train_fast: Path,
    train_clean: Path,
    clean_train: np.ndarray,
    speedup: float,
) -> list[tuple[str, Callable[[], Method]]]:
    """(label, prepare) per method of the table; ``prepare`` trains (budget ``args.minutes``)
    only when called, so cached rows cost nothing."""
    noisy_train = tifffile.imread(train_fast)
    sigma = float(np.std(noisy_train.astype(float) - clean_train)) / 255
    best_sigma = max(
        (0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
        key=lambda s: volume_psnr(_gaussian(noisy_train[:4], s), clean_train[:4]),
    )
    gaussian = f"Gaussian σ={best_sigma:g} px"
    plans: list[tuple[str, Callable[[], Method]]] = [
        ("noisy input", lambda: ("noisy input", "—", _copy, {})),
        (
            gaussian,
            lambda: (
                gaussian,
                "σ tuned on train",
                partial(_isolated_on_test, _gaussian, sigma=best_sigma),
                {},
            ),
        ),
        (
            "non-local means",
            lambda: (
                "non-local means",
                f"scikit-image, h = 0.8 σ, σ={sigma:.3f}",
                partial(_isolated_on_test, _nlm, sigma=sigma),
                {},
            ),
        ),
    ]
    if speedup in {float(k) for k in args.bm4d_at.split(",") if k}:
        plans.append(("BM4D", lambda: ("BM4D", f"σ={sigma:.3f}", partial(_bm4d, sigma=sigma), {})))
    for algorithm, label in (("n2v", "CAREamics N2V 2D"), ("care", "CAREamics CARE 2D")):
        plans.append(
            (
                label,
                partial(
                    _prepare_careamics,
                    algorithm,
                    label,
                    work,
                    args.minutes,
                    train_fast,
                    train_clean,
                ),
            )
        )
    modes = {
        "unet2p5d": ("supervised", "supervised 2D", "key slices", "self-supervised"),
        "gshift": ("supervised", "key slices", "self-supervised"),
    }
    for model, model_modes in modes.items():
        for mode in model_modes:
            label = f"vemrestore {model} {mode}"
            plans.append(
                (
                    label,
                    partial(
                        _prepare_vemrestore,
                        model,
                        mode,
                        label,
                        work,
                        args.minutes,
                        train_fast,
                        train_clean,
                    ),
                )
            )
    return [plan for plan in plans if plan[0] not in args.skip]


def _prepare_careamics(
    algorithm: str, label: str, work: Path, minutes: float, train_fast: Path, train_clean: Path
) -> Method:
    print(f"training {label}", flush=True)
    checkpoint, info = train_careamics(algorithm, work, minutes, train_fast, train_clean)
    return label, f"{info['steps']} steps", partial(predict_careamics, checkpoint), info


def _prepare_vemrestore(
    model: str,
    mode: str,
    label: str,
    work: Path,
    minutes: float,
    train_fast: Path,
    train_clean: Path,
) -> Method:
    print(f"training {label}", flush=True)
    checkpoint, info = train_vemrestore(model, mode, work, minutes, train_fast, train_clean)
    period = PERIOD if mode == "key slices" else None
    restore = partial(_isolated_vemrestore, checkpoint=checkpoint, key_period=period)
    if model == "gshift":
        crop_note = f", batch {GSHIFT_BATCH}, restored on the crop only"
        return label, f"{info['steps']} steps{crop_note}", partial(_on_crop, restore), info
    recipe = ""
    if mode == "supervised 2D":
        window = SUPERVISED_2D["model"]["params"]["window"]
        lr, loss = SUPERVISED_2D["optimizer"]["lr"], SUPERVISED_2D["loss"]
        recipe = f", window {window}, lr {lr:g}, {loss.removeprefix('1*')}"
    return label, f"{info['steps']} steps{recipe}", restore, info


def _crop_path(path: Path) -> Path:
    """Where ``main`` writes the ``CROP`` of a test volume, once per speed-up."""
    return path.with_name(f"{path.stem}-crop.tif")


def _on_crop(
    restore: Callable[[Path, Path, Path], dict], test: Path, keys: Path, out: Path
) -> dict:
    """Restore ``CROP`` of the test volumes only (see ``CROP``)."""
    return restore(_crop_path(test), _crop_path(keys), out)


def _isolated_on_test(
    function: Callable[..., np.ndarray], test: Path, keys: Path, out: Path, **kwargs: Any
) -> dict:
    return run_isolated(function, out, volume_path=str(test), **kwargs)


def _isolated_vemrestore(
    test: Path, keys: Path, out: Path, checkpoint: str, key_period: int | None
) -> dict:
    source = keys if key_period else test
    return run_isolated(
        _vemrestore, out, volume_path=str(source), checkpoint=checkpoint, key_period=key_period
    )


def volume_psnr(restored: np.ndarray, clean: np.ndarray) -> float:
    from vemrestore.evaluation.scores import volume_quality

    return volume_quality(np.clip(restored, 0, 255), clean, 255.0).psnr


def _copy(test: Path, keys: Path, out: Path) -> dict:
    tifffile.imwrite(out, tifffile.imread(test).astype(np.float32))
    return {}


def _cell(value: float | None, digits: int) -> str:
    """A table cell: ``—`` where a method has no such figure (not run, or not measured)."""
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.{digits}f}"


def _table(speedup: float, rows: list) -> str:
    header = (
        f"### {speedup:g}× fast scan\n\n"
        "| method | detail | ISBI PSNR | ISBI PSNR fast slices | ISBI SSIM | ISBI FRC (nm) "
        "| ISBI PSNR crop | EPFL PSNR | EPFL SSIM | EPFL PSNR crop | restore Mvox/s "
        "| peak RSS (MiB) | training |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = []
    for label, detail, info, isbi, epfl in rows:
        cells = [
            _cell(isbi.get("psnr"), 2),
            _cell(isbi.get("psnr_fast"), 2),
            _cell(isbi.get("ssim"), 3),
            _cell(isbi.get("frc_nm"), 1),
            _cell(isbi.get("psnr_crop"), 2),
            _cell(epfl.get("psnr"), 2),
            _cell(epfl.get("ssim"), 3),
            _cell(epfl.get("psnr_crop"), 2),
            _cell(isbi.get("voxels_per_s", float("nan")) / 1e6, 3),
            _cell(isbi.get("peak_rss_mib"), 0),
            f"{info['train_seconds'] / 60:.1f} min" if info else "—",
        ]
        body.append(f"| {label} | {detail} | " + " | ".join(cells) + " |")
    return header + "\n".join(body) + "\n"


def _report(
    args: argparse.Namespace,
    profile: Any,
    calibration: str,
    tables: list[str],
    figures: list[Path],
    machine: str,
) -> str:
    command = f"python benchmarks/quality.py --minutes {args.minutes:g} --speedups {args.speedups}"
    if args.slices:
        command += f" --slices {args.slices}"
    if args.skip:
        command += " --skip " + " ".join(f"'{s}'" for s in args.skip)
    if args.bm4d_at != "8":
        command += f" --bm4d-at '{args.bm4d_at}'"
    pictures = "\n".join(f"![crops]({f.relative_to(HERE)})" for f in figures)
    return f"""Command: `{command}`

Machine: {machine}; fp32, all cores.

Noise: `vemrestore.simulate` with the profile calibrated on `{SEM.name}`
({calibration.splitlines()[-1].removeprefix("profile: ")}), read as a {SEM_SPEEDUP:g}× fast
scan, so the reference scan has {profile.describe()}. Train: ISBI train (30×512×512);
tests: ISBI test and the EPFL FIB-SEM crop, fast scans with other seeds. Each trained method
gets {args.minutes:g} minutes of wall-clock training on the same data; vemrestore's key-slice
rows restore the key-slice acquisition (slow slices at z = 0, 4, 8, …, passed through), so
compare them on "PSNR fast slices" (the non-key slices, for every method). Restore speed and
peak RSS are of the restoring process alone (CAREamics: its own predict process), on the ISBI
test volume. FRC resolution: slice-wise FRC of restored vs reference, 1/7 threshold.
"PSNR crop": the same restored volume scored on slices 12-19, y and x 128-383 only; gshift
(batch {GSHIFT_BATCH}) restores only that crop, because its tiled restore of a whole
30×512×512 volume took over 16 minutes on 2 cores, so its rows compare on these columns
(its speed and peak RSS are for the crop).

{"".join(tables)}
{args.notes}

{pictures}
"""


if __name__ == "__main__":
    main()
