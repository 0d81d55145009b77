"""Do key slices pay off on isotropic FIB-SEM? NeuroProof medulla, 10 nm voxels.

On 50 nm ssTEM sections (ISBI) a slow key slice every 4 slices did not help the fast slices
between them (RESULTS.md, supervised benchmark): neighbours 4 sections apart share little.
At 10 nm isotropic voxels neighbouring slices are strongly correlated, so a slow slice 1-2
slices away carries much of the signal a fast slice lost. This run measures it.

Data: NeuroProof FIB-SEM sample 1 (training z 8-249, calibration crop z 0-7) and sample 2
(test: z 100-163), both 250×250 in-plane, from ``../shared/data``; fast scans from
``vemrestore.simulate.family`` (the generalisation benchmark's noise cases). Every method is
scored on the same fast slices (key positions z = 0, 4, 8, … of the test crop excluded), PSNR
with one whole-selection MSE and the dtype's range. Methods at an equal training budget, from
scratch, supervised on sample 1: the 2D network (window 1), the 2.5D network on 5 fast slices
(window 5: fast neighbours only), and key-slice mode (period 4, window 5: the slow key slices
pass through and inform the slices between them). Beside them: the noisy input, a Gaussian
and non-local means (chosen on the calibration crop), BM3D with the measured noise PSD, and
the shipped generalist (trained on both NeuroProof cubes among others: in-domain here, no training).

    python benchmarks/key_slices_isotropic.py --minutes 6 --threads 2 [--write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from generalization import CASES, DATA, HERE, classical, psnr, scan
from results import machine_info, update_section

from vemrestore import restore
from vemrestore.api import restore_key_slices
from vemrestore.config.training import TrainingConfig, with_key_slices
from vemrestore.pretrained import GENERALIST
from vemrestore.tasks.key_slices import key_positions, simulate_key_slices
from vemrestore.training.run import train

TRAIN = "neuroproof_fibsem_medulla_sample1_250x250x250.tif"
TEST = "neuroproof_fibsem_medulla_sample2_250x250x250.tif"
TEST_SLICES = slice(100, 164)
PERIOD = 4
SECTION = "Key slices on isotropic FIB-SEM (benchmarks/key_slices_isotropic.py)"


def trained(mode: str, pair: tuple[np.ndarray, np.ndarray], minutes: float, work: Path) -> Path:
    """Best checkpoint of a supervised run of ``minutes`` on ``pair`` (fast, slow)."""
    folder = work / mode.replace(" ", "-")
    folder.mkdir()
    tifffile.imwrite(folder / "fast.tif", pair[0])
    tifffile.imwrite(folder / "slow.tif", pair[1])
    window = 1 if mode == "2D" else PERIOD + 1
    config = TrainingConfig(
        model={"name": "unet2p5d", "params": {"window": window}},
        data={"pairs": [{"fast": str(folder / "fast.tif"), "slow": str(folder / "slow.tif")}]},
        epochs=None,
        max_time=f"{max(1, round(minutes * 60))}s",
        steps_per_epoch=50,
        batch_size=4,
        patch_size=(96, 96),
        loss="1*MSE",
        validation={"patches": 8, "axis": "z"},
    )
    if mode == "key slices":
        config = with_key_slices(config, PERIOD)
    result = train(config, folder / "run", from_scratch=True)
    print(f"  {mode}: {result.steps} steps", flush=True)
    return result.best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="training per learned run")
    parser.add_argument("--case", default="20e lag1.5", choices=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="put the table into RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    noise = CASES[args.case]
    train_clean = tifffile.imread(DATA / TRAIN)
    test_clean = tifffile.imread(DATA / TEST)[TEST_SLICES]
    test_noisy, test_ref = scan(test_clean, noise, seed=2)
    train_noisy, train_ref = scan(train_clean[8:], noise, seed=1)
    cal_noisy, cal_ref = scan(train_clean[:8], noise, seed=3)
    fast = np.setdiff1d(np.arange(len(test_ref)), key_positions(len(test_ref), PERIOD))

    def score(restored: np.ndarray) -> float:
        return psnr(restored[fast], test_ref[fast])

    rows: list[tuple[str, float, str]] = [("noisy input", score(test_noisy), "")]
    for method in ("gaussian", "nlm", "bm3d"):
        result = classical(method, (test_noisy[fast], test_ref[fast]), (cal_noisy, cal_ref))
        rows.append((method, result["psnr"], result["detail"]))
    rows.append(("generalist (no training)", score(restore(test_noisy, GENERALIST)), ""))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for mode in ("2D", "2.5D fast-only", "key slices"):
            started = time.perf_counter()
            best = trained(mode, (train_noisy, train_ref), args.minutes, work)
            minutes = (time.perf_counter() - started) / 60
            if mode == "key slices":
                acquisition = simulate_key_slices(test_noisy, test_ref, PERIOD)
                restored = restore_key_slices(acquisition, best, period=PERIOD)
            else:
                restored = restore(test_noisy, best)
            rows.append((f"supervised {mode}", score(restored), f"{minutes:.1f} min"))
            print(f"  {mode}: {rows[-1][1]:.2f} dB", flush=True)
    best_classical = max(value for name, value, _ in rows if name in ("gaussian", "nlm", "bm3d"))
    table = "\n".join(
        f"| {name} | {value:.2f} | {value - best_classical:+.2f} | {detail} |"
        for name, value, detail in rows
    )
    command = (
        f"python benchmarks/key_slices_isotropic.py --minutes {args.minutes:g} "
        f"--case '{args.case}' --threads {args.threads}"
    )
    body = f"""Command: `{command}`

Machine: {machine_info()}; torch threads {args.threads}, fp32.
Data: NeuroProof FIB-SEM (10 nm isotropic): training sample 1 z 8-249, calibration z 0-7,
test sample 2 z {TEST_SLICES.start}-{TEST_SLICES.stop - 1}; noise case "{args.case}"
(`benchmarks/generalization.py`). Scores over the {len(fast)} fast slices of the test crop
(key positions every {PERIOD} slices excluded for every method). Learned runs: unet2p5d,
supervised from scratch, {args.minutes:g} minutes each, batch 4, 96 px patches, MSE.

| method | PSNR fast slices (dB) | vs best classical | detail |
|---|---:|---:|---|
{table}
"""
    print(body)
    if args.write:
        update_section(SECTION, body)
    (HERE / "_work").mkdir(exist_ok=True)
    (HERE / "_work" / "key_slices_isotropic.md").write_text(body)


if __name__ == "__main__":
    main()
