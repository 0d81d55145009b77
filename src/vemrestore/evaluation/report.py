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
    if evaluation.scores is not None:
        lines += [
            "## Against the reference",
            "",
            f"| volume | PSNR (dB) | SSIM | FRC resolution ({unit}) |",
            "|---|---:|---:|---:|",
        ]
        rows = [("restored", evaluation.scores, evaluation.frc_reference)]
        if evaluation.input_scores is not None:
            rows.insert(0, ("input", evaluation.input_scores, evaluation.frc_input_reference))
        for name, scores, curve in rows:
            lines.append(
                f"| {name} | {scores.psnr:.2f} | {scores.ssim:.4f} | {resolution(curve):.1f} |"
            )
        lines += [
            "",
            f"Data range {evaluation.scores.data_range:g}. Per slice: "
            "![per-slice metrics](slices.png)",
            "",
        ]
    lines += [
        "## Without a reference (checkerboard half-image FRC)",
        "",
        f"| volume | half-image FRC resolution ({unit}) | noise σ |",
        "|---|---:|---:|",
    ]
    halves = [("restored", evaluation.half_frc_restored)]
    if evaluation.half_frc_input is not None:
        halves.insert(0, ("input", evaluation.half_frc_input))
    for name, curve in halves:
        lines.append(f"| {name} | {resolution(curve):.1f} | {evaluation.noise[name]:.4g} |")
    lines += [
        "",
        "The halves are the diagonal checkerboard lattices (pixel 2× the original); "
        "their resolution cannot be finer than 4 px.",
        "",
        "![FRC curves](frc.png)",
        "",
        "![input, restored, reference](crops.png)",
        "",
    ]
    return "\n".join(lines)


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
        ("restored, half-image", evaluation.half_frc_restored),
        ("input, half-image", evaluation.half_frc_input),
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
