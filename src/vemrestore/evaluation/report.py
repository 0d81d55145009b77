"""``report.md`` and its PNG figures for an ``Evaluation``: what a user reads after a run.

Figures: ``crops.png`` (input / restored / reference side by side, an xy crop of the middle
slice and an xz reslice through the middle line), ``frc.png`` (FRC curves and the 1/7
threshold) and, with a reference, ``slices.png`` (PSNR, SSIM and FRC resolution per slice).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vemrestore.evaluation.frc import THRESHOLD, FRCCurve  # noqa: E402
from vemrestore.evaluation.quality import Evaluation, resolution  # noqa: E402

CROP = 256
"""Side (px) of the xy crops and width of the xz reslices in ``crops.png``."""


def write_report(
    evaluation: Evaluation,
    folder: Path,
    restored: np.ndarray,
    reference: np.ndarray | None = None,
    noisy: np.ndarray | None = None,
    voxel_size: tuple[float, float, float] | None = None,
    title: str = "Evaluation",
) -> Path:
    """Write ``report.md`` and the figures into the existing ``folder``; returns the report."""
    folder = Path(folder)
    panels = {"input": noisy, "restored": restored, "reference": reference}
    _crops(
        {k: np.asarray(v) for k, v in panels.items() if v is not None},
        voxel_size,
        folder / "crops.png",
    )
    frc_figure(evaluation, folder / "frc.png")
    if evaluation.scores is not None:
        _slices_figure(evaluation, folder / "slices.png")
    report = folder / "report.md"
    report.write_text(report_markdown(evaluation, title))
    return report


def report_markdown(evaluation: Evaluation, title: str = "Evaluation") -> str:
    """The report text (Markdown), referring to the figures by file name."""
    unit = evaluation.unit
    lines = [
        f"# {title}",
        "",
        f"Volume {'×'.join(map(str, evaluation.shape))}, pixel size "
        f"{evaluation.pixel_size if evaluation.pixel_size is not None else 'unknown'}"
        f"{' nm' if evaluation.pixel_size is not None else ''}; FRC on "
        f"{len(evaluation.frc_slices)} slices, resolution at the 1/7 threshold.",
        "",
    ]
    baseline = evaluation.baseline
    baseline_name = f"Gaussian σ = {baseline.sigma:g} px" if baseline is not None else ""
    if baseline is not None:
        lines += [
            f"Classical baseline: the input filtered in-plane with a Gaussian of σ = "
            f"{baseline.sigma:g} px, chosen without a reference from the input's noise "
            f"(σ ≈ {baseline.noise:.4g}) by Stein's unbiased risk estimate.",
            "",
        ]
    if evaluation.scores is not None:
        lines += [
            "## Against the reference",
            "",
            f"| volume | PSNR (dB) | SSIM | FRC resolution ({unit}) | mean FRC |",
            "|---|---:|---:|---:|---:|",
        ]
        rows = [
            ("input", evaluation.input_scores, evaluation.frc_input_reference),
            (baseline_name, evaluation.baseline_scores, evaluation.frc_baseline_reference),
            ("restored", evaluation.scores, evaluation.frc_reference),
        ]
        for name, scores, curve in rows:
            if scores is not None and curve is not None:
                lines.append(
                    f"| {name} | {scores.psnr:.2f} | {scores.ssim:.4f} | {_resolution(curve)} "
                    f"| {curve.mean:.3f} |"
                )
        lines += ["", *_saturation_note(evaluation)]
        lines += [
            f"Data range {evaluation.scores.data_range:g}. Per slice: "
            "![per-slice metrics](slices.png)",
            "",
        ]
    lines += ["## Without a reference: independent halves", "", *_halves(evaluation, baseline_name)]
    lines += [
        "",
        "Noise σ (2×2 high-pass estimate, intensity units): "
        + ", ".join(f"{name} {value:.4g}" for name, value in evaluation.noise.items())
        + ". Any blur lowers it as much as a restoration: it is not a quality score.",
        "",
        "![FRC curves](frc.png)",
        "",
        "![input, restored, reference](crops.png)",
        "",
    ]
    return "\n".join(lines)


def _resolution(curve: FRCCurve) -> str:
    value = f"{resolution(curve):.1f}"
    return f"{value} (Nyquist)" if curve.saturated else value


def _saturation_note(evaluation: Evaluation) -> list[str]:
    """Say plainly when the FRC resolution cannot rank the volumes: both reach Nyquist."""
    curves = [evaluation.frc_reference, evaluation.frc_input_reference]
    if not all(curve is not None and curve.saturated for curve in curves):
        return []
    return [
        "Input and restored both stay above 1/7 up to the Nyquist frequency: their FRC "
        "resolution is the pixel limit and cannot separate them here. Compare PSNR and SSIM "
        "instead (FRC is a ratio per frequency: a linear filter leaves it unchanged, so the "
        "mean FRC hardly moves either).",
        "",
    ]


def _halves(evaluation: Evaluation, baseline_name: str) -> list[str]:
    if not evaluation.halves:
        return [
            "Give the restoration's input (`--input`) and its model (`--model`) to score it "
            "without a reference and to see the Gaussian baseline."
        ]
    unit = evaluation.unit
    names = {"input": "input (raw)", "baseline": baseline_name, "restored": "restored"}
    lines = [
        f"| independent halves | FRC resolution ({unit}) | mean FRC |",
        "|---|---:|---:|",
    ]
    for key, curve in evaluation.halves.items():
        lines.append(f"| {names[key]} | {_resolution(curve)} | {curve.mean:.3f} |")
    lines += [
        "",
        "The input's two diagonal sub-lattices carry independent noise; each is restored on "
        "its own and the two results are compared by FRC, so only signal can raise the curve. "
        "A Gaussian (any linear filter) scores what the raw halves score: a restoration must "
        "beat that row to have added anything. The halves have 2× the pixel size: their "
        "resolution cannot be finer than 4 px.",
    ]
    if "restored" not in evaluation.halves:
        lines += ["", "Give `--model` (the model that restored this volume) to score it here."]
    return lines


def _crops(volumes: dict[str, np.ndarray], voxel_size, path: Path) -> None:
    first = next(iter(volumes.values()))
    depth, height, width = first.shape if first.ndim == 3 else (1, *first.shape)
    z, y = depth // 2, height // 2
    y0, x0 = max(0, (height - CROP) // 2), max(0, (width - CROP) // 2)
    aspect = voxel_size[0] / voxel_size[2] if voxel_size else 1.0
    figure, axes = plt.subplots(
        2,
        len(volumes),
        figsize=(3.2 * len(volumes), 5.6),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 2]},
    )
    low, high = np.percentile(volumes.get("reference", volumes["restored"]), (0.5, 99.5))
    for column, (name, volume) in enumerate(volumes.items()):
        volume = volume if volume.ndim == 3 else volume[None]
        axes[0, column].imshow(
            volume[z, y0 : y0 + CROP, x0 : x0 + CROP], cmap="gray", vmin=low, vmax=high
        )
        axes[0, column].set_title(f"{name}, xy (z={z})")
        axes[1, column].imshow(
            volume[:, y, x0 : x0 + CROP],
            cmap="gray",
            vmin=low,
            vmax=high,
            aspect=aspect,
            interpolation="nearest",
        )
        axes[1, column].set_title(f"xz (y={y})")
        for axis in axes[:, column]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)


def frc_figure(evaluation: Evaluation, path: Path) -> None:
    """Write a PNG of every FRC curve the evaluation holds, with its 1/7 resolution."""
    curves: list[tuple[str, FRCCurve | None]] = [
        ("restored vs reference", evaluation.frc_reference),
        ("input vs reference", evaluation.frc_input_reference),
        ("Gaussian vs reference", evaluation.frc_baseline_reference),
        *((f"{name}, independent halves", curve) for name, curve in evaluation.halves.items()),
    ]
    figure, axis = plt.subplots(figsize=(6, 4))
    scale = evaluation.pixel_size or 1.0
    for label, curve in curves:
        if curve is not None:
            axis.plot(
                curve.frequencies / scale,
                curve.values,
                label=f"{label} ({resolution(curve):.1f} {evaluation.unit})",
            )
    axis.axhline(THRESHOLD, color="grey", linestyle="--", label="1/7")
    axis.set_xlabel(f"spatial frequency (1/{evaluation.unit})")
    axis.set_ylabel("FRC")
    axis.set_ylim(-0.2, 1.05)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)


def _slices_figure(evaluation: Evaluation, path: Path) -> None:
    scores = evaluation.scores
    figure, axes = plt.subplots(3, 1, figsize=(6, 6.5), sharex=True)
    z = np.arange(len(scores.slice_psnr))
    for label, values in (("restored", scores), ("input", evaluation.input_scores)):
        if values is not None:
            axes[0].plot(z, values.slice_psnr, marker=".", label=label)
            axes[1].plot(z, values.slice_ssim, marker=".", label=label)
    axes[2].plot(evaluation.frc_slices, evaluation.slice_resolution, marker=".")
    for axis, label in zip(
        axes, ("PSNR (dB)", "SSIM", f"FRC res. ({evaluation.unit})"), strict=True
    ):
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    axes[-1].set_xlabel("slice z")
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
