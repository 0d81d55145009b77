"""File-level entry points of the analysis tools: simulate, calibrate, evaluate, plan.

They open and write files and wire ``vemrestore.simulate`` and ``vemrestore.evaluation``
(numpy in, numpy out) to models and training; the CLI (``cli.analysis``) only parses and
prints. calibrate and evaluate read a bounded sample of large volumes (``io.sampling``: the
same evenly spaced slices of every volume compared); plan reads its pilot whole (pilots are
small); ``simulate_file`` streams slice by slice. Every output appears atomically.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from vemrestore.api.restoration import restore
from vemrestore.config import InferenceConfig
from vemrestore.config.training import TrainingConfig
from vemrestore.errors import VemRestoreError
from vemrestore.evaluation.quality import Evaluation, evaluate
from vemrestore.evaluation.report import write_report
from vemrestore.io import open_volume, write_volume
from vemrestore.io.atomic import atomic_output, check_output_path
from vemrestore.io.sampling import Sample, plan_sample, read_sample
from vemrestore.model_io.files import ModelSource, as_checkpoint
from vemrestore.simulate.calibration import CalibrationFit, calibrate_pair, calibrate_single
from vemrestore.simulate.figures import plot_calibration, plot_plan
from vemrestore.simulate.noise import iter_fast_scan, simulate_fast_scan
from vemrestore.simulate.planner import Plan, Restorer, acquisition_time, plan_acquisition
from vemrestore.simulate.profile import NoiseProfile, save_profile
from vemrestore.types import PathLike

logger = logging.getLogger(__name__)


def read_volume(path: PathLike) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """A whole volume as a (Z, Y, X) array and its voxel size (z, y, x) in nm or None."""
    with open_volume(path) as reader:
        return reader.read(slice(None)), reader.spec.voxel_size


@dataclass(frozen=True)
class SampledVolumes:
    """The same sample (``io.sampling``) of volumes that must match voxel for voxel."""

    arrays: tuple[np.ndarray, ...]
    voxel_size: tuple[float, float, float] | None
    sample: Sample


def read_sampled(first: PathLike, *others: PathLike, array: str | None = None) -> SampledVolumes:
    """``first`` and ``others`` (same shape, else refused), within ``SAMPLE_BYTES`` each;
    ``array``: the array to read inside a Zarr group ``first``."""
    with open_volume(first, array=array) as reader:
        sample = plan_sample(reader.shape, reader.dtype)
        arrays = [read_sample(reader, sample)]
        voxel_size = reader.spec.voxel_size
    for path in others:
        with open_volume(path) as reader:
            if reader.shape != sample.shape:
                raise VemRestoreError(
                    f"{path}: shape {reader.shape} differs from {first} {sample.shape}"
                )
            arrays.append(read_sample(reader, sample))
    return SampledVolumes(tuple(arrays), voxel_size, sample)


def simulate_file(
    clean: PathLike,
    output: PathLike,
    *,
    speedup: float,
    profile: NoiseProfile | None = None,
    seed: int = 0,
    key_period: int | None = None,
    key_offset: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a simulated fast scan (or key-slice acquisition) of the volume ``clean``."""
    profile = profile or NoiseProfile()
    with open_volume(clean) as reader:
        planes = (reader.read(slice(z, z + 1))[0] for z in range(reader.shape[0]))
        try:
            slices = iter_fast_scan(planes, speedup, profile, seed, key_period, key_offset)
            return write_volume(
                output, slices, reader.spec, overwrite=overwrite, inputs=(Path(clean),)
            )
        except ValueError as error:
            raise VemRestoreError(f"{clean}: {error}") from None


def calibrate_files(
    volume: PathLike,
    *,
    slow: PathLike | None = None,
    speedup: float | None = None,
    profile_out: PathLike | None = None,
    figure: PathLike | None = None,
    overwrite: bool = False,
) -> CalibrationFit:
    """Calibrate from a fast/slow pair (``volume`` fast, ``slow`` given, ``speedup`` of the
    fast scan), or from ``volume`` alone; optionally write the profile JSON and the figure."""
    sources = [Path(slow)] if slow is not None else []
    for path in (profile_out, figure):
        if path is not None:
            check_output_path(Path(path), overwrite, [Path(volume), *sources])
    if slow is not None:
        if speedup is None:
            raise VemRestoreError(f"{volume}: give the speed-up of the fast scan over {slow}")
        data, reference = read_sampled(volume, slow).arrays
        fit = calibrate_pair(data, reference, speedup)
    else:
        (data,) = read_sampled(volume).arrays
        fit = calibrate_single(data)
    if profile_out is not None:
        save_profile(fit.profile, profile_out, overwrite)
    if figure is not None:
        with atomic_output(Path(figure), overwrite) as temporary:
            plot_calibration(fit, temporary, Path(volume).name)
    return fit


def evaluate_files(
    restored: PathLike,
    out: PathLike,
    *,
    reference: PathLike | None = None,
    noisy: PathLike | None = None,
    data_range: float | None = None,
    overwrite: bool = False,
    model: ModelSource | None = None,
) -> Evaluation:
    """Evaluate a restored volume file and write ``report.md`` + figures into folder ``out``.

    With ``noisy`` (the restoration's input), a Gaussian baseline is scored beside it; with
    ``model`` too, each of the input's two diagonal sub-lattices is restored by it alone for
    the independent-halves FRC (``vemrestore.evaluation.quality``)."""
    if model is not None and noisy is None:
        raise VemRestoreError(f"--model {model}: give --input too, the raw scan it restored")
    if data_range is not None and not 0 < data_range < math.inf:
        raise VemRestoreError(f"--data-range {data_range}: must be a finite number > 0")
    sources = [Path(p) for p in (restored, reference, noisy) if p is not None]
    check_output_path(Path(out), overwrite, sources)
    others = {name: path for name, path in (("reference", reference), ("input", noisy)) if path}
    sampled = read_sampled(restored, *others.values())
    volume, *rest = sampled.arrays
    arrays = dict(zip(others, rest, strict=True))
    voxel_size = sampled.voxel_size
    pixel_size = voxel_size[2] if voxel_size else None
    restore_half = None
    if model is not None:
        checkpoint = as_checkpoint(model)  # loaded once for both halves

        def restore_half(half: np.ndarray) -> np.ndarray:
            return restore(half, checkpoint)

    evaluation = evaluate(
        volume, arrays.get("reference"), arrays.get("input"), pixel_size, data_range, restore_half
    )
    with atomic_output(Path(out), overwrite) as folder:
        folder.mkdir()
        write_report(
            evaluation,
            folder,
            volume,
            arrays.get("reference"),
            arrays.get("input"),
            voxel_size,
            f"Evaluation of {Path(restored).name}"
            + ("" if sampled.sample.whole else f" (measured on {sampled.sample.describe()})"),
        )
    return evaluation


def model_restorer(model: ModelSource, config: InferenceConfig | None = None) -> Restorer:
    """A planner restorer that applies one trained model at every speed-up."""

    def restore_with_model(fast: np.ndarray, speedup: float) -> np.ndarray:
        return restore(fast, model, config=config)

    return restore_with_model


@dataclass(frozen=True)
class TrainingBudget:
    """Budget of the short training run per speed-up: steps and/or wall-clock (e.g. "2m")."""

    steps: int | None = None
    max_time: str | None = "2m"
    model: str = "unet2p5d"
    batch_size: int = 4
    seed: int = 0


class TrainingRestorer:
    """A planner restorer that trains fast → slow for each speed-up, then restores with it.

    The training pair is ``train_slow`` (Z, Y, X) and its own simulated fast scan at that
    speed-up, with noise drawn independently of the scan being restored. Runs are kept in
    ``work_dir``. ``notes`` collects the training runs' warnings (a model that never beat its
    input on validation, one never validated), which a plan must repeat.
    """

    def __init__(
        self,
        train_slow: np.ndarray,
        profile: NoiseProfile,
        work_dir: PathLike,
        *,
        budget: TrainingBudget | None = None,
        progress: bool = False,
    ) -> None:
        self.train_slow = train_slow
        self.profile = profile
        self.work_dir = Path(work_dir)
        self.budget = budget or TrainingBudget()
        self.progress = progress
        self.notes: list[str] = []

    def __call__(self, fast: np.ndarray, speedup: float) -> np.ndarray:
        budget = self.budget
        folder = self.work_dir / f"speedup-{speedup:g}"
        folder.mkdir(parents=True, exist_ok=True)
        train_fast = simulate_fast_scan(
            self.train_slow, speedup, self.profile, budget.seed + 10_000 + round(speedup * 100)
        )
        tifffile.imwrite(folder / "fast.tif", train_fast)
        tifffile.imwrite(folder / "slow.tif", self.train_slow)
        from vemrestore.training.run import train

        result = train(_training_config(folder, budget), folder / "run", progress=self.progress)
        logger.info("speed-up %g: trained %d steps", speedup, result.steps)
        if not result.validated:
            self.notes.append(f"{speedup:g}×: the training budget ended before validation")
        elif not result.best_psnr > result.input_psnr:
            self.notes.append(
                f"{speedup:g}×: the model was trained below its input's validation score "
                f"({result.best_psnr:.2f} dB against {result.input_psnr:.2f} dB)"
            )
        return restore(fast, result.best)


def training_restorer(
    train_slow: np.ndarray,
    profile: NoiseProfile,
    work_dir: PathLike,
    *,
    budget: TrainingBudget | None = None,
    progress: bool = False,
) -> TrainingRestorer:
    """A ``TrainingRestorer`` (kept for callers of the function form)."""
    return TrainingRestorer(train_slow, profile, work_dir, budget=budget, progress=progress)


def _training_config(folder: Path, budget: TrainingBudget) -> TrainingConfig:
    """Window, validation axis and patch size are chosen from the pilot's shape
    (``vemrestore.training.defaults``)."""
    steps_per_epoch = min(50, budget.steps) if budget.steps else 50
    return TrainingConfig(
        model={"name": budget.model},
        data={
            "pairs": [{"fast": str(folder / "fast.tif"), "slow": str(folder / "slow.tif")}],
            "check_registration": False,
        },
        validation={"fraction": 0.2, "patches": 4},
        epochs=None,
        steps=budget.steps,
        max_time=budget.max_time,
        steps_per_epoch=steps_per_epoch,
        batch_size=budget.batch_size,
        seed=budget.seed,
        accelerator="cpu",
    )


@dataclass(frozen=True)
class PlanSettings:
    """What ``plan_files`` tries and how it restores.

    ``speedups`` are the scan speed-ups tried; the plan recommends the largest whose
    restoration reaches ``target_ssim``; each speed-up's fast scan is drawn from ``seed``.
    The noise profile is ``profile``, else calibrated from the pair (``fast``, the pilot) at
    ``pair_speedup``, else from the pilot alone. Without ``model``, each speed-up trains for
    ``budget`` on the pilot itself (optimistic: same images).
    """

    speedups: Sequence[float]
    target_ssim: float = 0.9
    seed: int = 0
    profile: NoiseProfile | None = None
    fast: PathLike | None = None
    pair_speedup: float | None = None
    model: ModelSource | None = None
    budget: TrainingBudget | None = None


def plan_files(
    pilot: PathLike,
    out: PathLike,
    *,
    settings: PlanSettings,
    overwrite: bool = False,
    progress: bool = False,
) -> tuple[Plan, CalibrationFit | None]:
    """Plan on the slow-scan ``pilot`` with ``settings``; write plan.csv, plan.md, plan.png,
    profile.json (and calibration.png when the profile was calibrated) to folder ``out``."""
    profile, fast, model = settings.profile, settings.fast, settings.model
    out = Path(out)
    sources = [Path(p) for p in (pilot, fast, model) if isinstance(p, (str, os.PathLike))]
    check_output_path(out, overwrite, sources)
    slow, voxel_size = read_volume(pilot)
    fit = None
    if profile is None:
        if fast is not None:
            if settings.pair_speedup is None:
                raise VemRestoreError(f"{fast}: give --pair-speedup, the fast scan's speed-up")
            fast_volume, _ = read_volume(fast)
            fit = calibrate_pair(fast_volume, slow, settings.pair_speedup)
        else:
            fit = calibrate_single(slow)
        profile = fit.profile
    pixel_size = voxel_size[2] if voxel_size else None
    with atomic_output(out, overwrite, sources) as folder, tempfile.TemporaryDirectory() as work:
        folder.mkdir()
        if model is not None:
            restorer = model_restorer(model)
        else:
            restorer = training_restorer(slow, profile, work, budget=settings.budget)
        try:
            plan = plan_acquisition(
                slow,
                settings.speedups,
                profile,
                restorer,
                target_ssim=settings.target_ssim,
                seed=settings.seed,
                pixel_size=pixel_size,
                progress=progress,
            )
        except ValueError as error:
            raise VemRestoreError(f"{pilot}: {error}") from None
        if isinstance(restorer, TrainingRestorer):
            notes = list(restorer.notes)
            if plan.recommended is None or notes:
                notes.append(_budget_note(restorer.budget))
            plan = dataclasses.replace(plan, notes=tuple(notes))
        save_profile(profile, folder / "profile.json")
        if fit is not None:
            plot_calibration(fit, folder / "calibration.png")
        (folder / "plan.csv").write_text(plan.csv())
        (folder / "plan.md").write_text(
            f"{plan_summary(plan)}\n\n{plan.table()}\n\n![quality vs speed-up](plan.png)\n"
        )
        plot_plan(plan, folder / "plan.png", f"{Path(pilot).name}")
    return plan, fit


def _budget_note(budget: TrainingBudget) -> str:
    spent = f"{budget.steps} steps" if budget.steps else f"{budget.max_time} of wall-clock"
    return (
        f"Each model was trained for only {spent} per speed-up: an under-trained model "
        "understates what restoration can do (a longer --train-time, or --model with a "
        "trained checkpoint, may reach the target at a larger speed-up)."
    )


def plan_summary(plan: Plan) -> str:
    """The recommendation, beside what the raw fast scan reaches without restoration."""
    best, raw = plan.recommended, plan.raw_recommended
    target = f"SSIM {plan.target_ssim:g}"
    if raw is None:
        without = f"No raw fast scan reaches {target}."
    else:
        without = (
            f"The raw fast scan reaches {target} up to {raw.speedup:g}× (SSIM {raw.fast_ssim:.3f})."
        )
    if best is None:
        text = f"{without} No speed-up reaches {target} after restoration."
    else:
        text = (
            f"{without} Largest speed-up reaching {target} after restoration: {best.speedup:g}× "
            f"(restored SSIM {best.ssim:.3f}, PSNR {best.psnr:.2f} dB)."
        )
        plain, restored = plan.restoration_speedup
        if restored <= plain:
            text += " Restoration adds no speed-up beyond the raw fast scan here."
        else:
            text += f" Restoration adds {restored / plain:g}× beyond the raw fast scan."
    return " ".join([text, *plan.notes])


def acquisition_summary(plan: Plan, volume_size: tuple[int, int, int], dwell_us: float) -> str:
    """Acquisition time of a volume without and with restoration; only the speed-up beyond
    what the raw fast scan reaches is credited to restoration."""
    plain, restored = plan.restoration_speedup
    before = acquisition_time(volume_size, dwell_us, plain).fast_s
    after = acquisition_time(volume_size, dwell_us, restored).fast_s
    size = "×".join(map(str, volume_size))
    if restored <= plain:
        return (
            f"acquisition of {size} voxels at {dwell_us:g} µs: {_hours(before)} at {plain:g}× "
            "(raw fast scan); restoration saves no time here"
        )
    return (
        f"acquisition of {size} voxels at {dwell_us:g} µs: {_hours(before)} at {plain:g}× "
        f"(raw fast scan) → {_hours(after)} at {restored:g}× with restoration, "
        f"{_hours(before - after)} saved by restoration"
    )


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{seconds / 60:.1f} min"
