"""Command line of the analysis tools: ``simulate``, ``calibrate``, ``evaluate``, ``plan``.

Thin: parse options, call ``vemrestore.api.analysis``, print. Registered on the main app by
``register_analysis_commands``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vemrestore.cli.errors import user_errors
from vemrestore.cli.options import (
    OldOutput,
    Overwrite,
    Quiet,
    Threads,
    one_output,
    quiet_libraries,
)
from vemrestore.errors import VemRestoreError
from vemrestore.threads import set_threads


def _profile(path: Path | None):
    from vemrestore.simulate import load_profile

    return load_profile(path) if path is not None else None


def _numbers(option: str, text: str, kind: type = float) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise VemRestoreError(f"{option} {text}: expected comma-separated numbers, e.g. 2,4,8")
    return values


def simulate(
    clean: Annotated[Path, typer.Argument(help="Slow/clean volume: TIFF, .zarr or slices.")],
    speedup: Annotated[float, typer.Option(help="Scan speed-up K (dwell time / K).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Simulated fast scan.")],
    profile: Annotated[
        Path | None,
        typer.Option(help="Noise profile JSON (default: the shipped SEM reference profile)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same output).")] = 0,
    key_slices: Annotated[
        int | None, typer.Option(help="Key-slice acquisition: every P-th slice at speed-up 1.")
    ] = None,
    key_offset: Annotated[int, typer.Option(help="z of the first key slice.")] = 0,
    overwrite: Overwrite = False,
) -> None:
    """Simulate a K-times faster SEM scan of a volume (shot, read noise, x blur, jitter)."""
    from vemrestore.api.analysis import simulate_file
    from vemrestore.pretrained import REFERENCE_PROFILE

    with user_errors():
        written = simulate_file(
            clean,
            output,
            speedup=speedup,
            profile=_profile(profile or REFERENCE_PROFILE),
            seed=seed,
            key_period=key_slices,
            key_offset=key_offset,
            overwrite=overwrite,
        )
    typer.echo(f"wrote {written}")


def calibrate(
    volume: Annotated[Path, typer.Argument(help="Fast scan of a pair, or one noisy volume.")],
    slow: Annotated[Path | None, typer.Option(help="Registered slow scan of the pair.")] = None,
    speedup: Annotated[float | None, typer.Option(help="Speed-up of VOLUME over --slow.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the profile JSON here.")
    ] = None,
    figure: Annotated[
        Path | None, typer.Option(help="Variance-vs-mean PNG (default: beside -o, .png).")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Estimate a noise profile from a fast/slow pair, or from a single noisy volume."""
    from vemrestore.api.analysis import calibrate_files

    with user_errors():
        if speedup is not None and slow is None:
            raise VemRestoreError("--speedup applies to a pair: give --slow too")
        if figure is None and output is not None:
            figure = output.with_suffix(".png")
        fit = calibrate_files(
            volume,
            slow=slow,
            speedup=speedup,
            profile_out=output,
            figure=figure,
            overwrite=overwrite,
        )
    typer.echo(fit.summary())
    for path in (output, figure):
        if path is not None:
            typer.echo(f"wrote {path}")


def evaluate(
    restored: Annotated[Path, typer.Argument(help="Restored volume.")],
    reference: Annotated[
        Path | None, typer.Option(help="Reference (slow scan) of the same shape.")
    ] = None,
    noisy: Annotated[
        Path | None, typer.Option("--input", help="The restoration's input (fast scan).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FOLDER",
            help="Report folder (default: RESTORED name + -report).",
        ),
    ] = None,
    out: OldOutput = None,
    data_range: Annotated[
        float | None, typer.Option(help="Peak for PSNR/SSIM (default: dtype max).")
    ] = None,
    overwrite: Overwrite = False,
    threads: Threads = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="The model that restored it: scores it without a reference (needs --input).",
        ),
    ] = None,
) -> None:
    """PSNR/SSIM, Fourier ring correlation and resolution, beside a Gaussian baseline;
    writes report.md and figures."""
    from vemrestore.api.analysis import evaluate_files

    with user_errors():
        set_threads(threads)
        out = one_output(output, out, required=False) or restored.with_name(
            f"{restored.stem}-report"
        )
        result = evaluate_files(
            restored,
            out,
            reference=reference,
            noisy=noisy,
            data_range=data_range,
            overwrite=overwrite,
            model=model,
        )
    for line in evaluation_lines(result):
        typer.echo(line)
    typer.echo(f"wrote {out / 'report.md'}")


def evaluation_lines(result) -> list[str]:
    """The figures a user compares, one line per volume: restored beside input and baseline."""
    from vemrestore.evaluation import resolution

    unit = result.unit
    names = {"input": "input", "baseline": "Gaussian", "restored": "restored"}
    if result.baseline is not None:
        names["baseline"] = f"Gaussian σ={result.baseline.sigma:g}px"
    lines = []
    if result.scores is not None:
        rows = (
            ("input", result.input_scores, result.frc_input_reference),
            ("baseline", result.baseline_scores, result.frc_baseline_reference),
            ("restored", result.scores, result.frc_reference),
        )
        for key, scores, curve in rows:
            if scores is not None:
                limit = " (Nyquist)" if curve.saturated else ""
                lines.append(
                    f"{names[key]:<22} PSNR {scores.psnr:6.2f} dB  SSIM {scores.ssim:.4f}  "
                    f"FRC {resolution(curve):.1f} {unit}{limit}, mean {curve.mean:.3f}"
                )
    for key, curve in result.halves.items():
        lines.append(
            f"{names[key]:<22} independent-halves FRC {resolution(curve):.1f} {unit}, "
            f"mean {curve.mean:.3f}"
        )
    if not result.halves:
        lines.append("no reference-free score: give --input and --model")
    return lines


def plan(
    pilot: Annotated[Path, typer.Argument(help="Slow-scan pilot volume.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FOLDER", help="New folder for plan.csv, plan.md, plan.png."
        ),
    ] = None,
    out: OldOutput = None,
    speedups: Annotated[str, typer.Option(help="Speed-ups to try.")] = "2,4,8,16",
    target_ssim: Annotated[float, typer.Option(help="Quality needed after restoration.")] = 0.9,
    profile: Annotated[Path | None, typer.Option(help="Noise profile JSON.")] = None,
    fast: Annotated[
        Path | None, typer.Option(help="Fast scan of the pilot, to calibrate the profile.")
    ] = None,
    pair_speedup: Annotated[float | None, typer.Option(help="Speed-up of --fast.")] = None,
    model: Annotated[
        Path | None, typer.Option(help="Restore with this checkpoint (default: train).")
    ] = None,
    train_time: Annotated[
        str | None, typer.Option(help="Training budget per speed-up, e.g. 2m.")
    ] = None,
    train_steps: Annotated[
        int | None, typer.Option(help="Training budget per speed-up in steps.")
    ] = None,
    volume_size: Annotated[
        str | None, typer.Option(help="Voxels Z,Y,X of the volume to acquire.")
    ] = None,
    dwell_us: Annotated[float, typer.Option(help="Reference dwell time (µs/pixel).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    threads: Threads = None,
) -> None:
    """Find the largest scan speed-up whose restoration still reaches a target SSIM."""
    from vemrestore.api.analysis import (
        PlanSettings,
        TrainingBudget,
        acquisition_summary,
        plan_files,
        plan_summary,
    )

    quiet_libraries()  # training per speed-up imports Lightning, which resets its loggers
    with user_errors():
        set_threads(threads)
        out = one_output(output, out)
        factors = _numbers("--speedups", speedups)
        size = _numbers("--volume-size", volume_size, int) if volume_size else None
        if size is not None and len(size) != 3:
            raise VemRestoreError(f"--volume-size {volume_size}: expected Z,Y,X voxels")
        if model is not None and (train_time or train_steps):
            raise VemRestoreError("--model restores with a checkpoint: no training budget")
        budget = TrainingBudget(
            steps=train_steps, max_time=train_time or (None if train_steps else "2m")
        )
        settings = PlanSettings(
            speedups=factors,
            target_ssim=target_ssim,
            seed=seed,
            profile=_profile(profile),
            fast=fast,
            pair_speedup=pair_speedup,
            model=model,
            budget=budget,
        )
        result, fit = plan_files(
            pilot, out, settings=settings, overwrite=overwrite, progress=not quiet
        )
    if fit is not None:
        typer.echo(fit.summary())
    typer.echo(result.table())
    typer.echo(plan_summary(result))
    if size is not None:
        typer.echo(acquisition_summary(result, tuple(size), dwell_us))
    typer.echo(f"wrote {out}")


def register_analysis_commands(app: typer.Typer) -> None:
    """Add ``simulate``, ``calibrate``, ``evaluate`` and ``plan`` to the main app."""
    for command in (simulate, calibrate, evaluate, plan):
        app.command()(command)
