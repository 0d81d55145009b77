"""PNG figures of the simulation tools: the calibration fit and the planner's quality curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vemrestore.simulate.calibration import CalibrationFit  # noqa: E402
from vemrestore.simulate.planner import Plan  # noqa: E402


def plot_calibration(fit: CalibrationFit, path: Path, title: str = "") -> Path:
    """Binned noise variance against local mean, with the fitted line."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(fit.means, fit.variances, "o", label="binned data")
    span = np.linspace(0.0, float(fit.means.max()) * 1.05, 50)
    axis.plot(span, fit.fitted(span), "-", label=f"fit: {fit.slope:.3g}·mean + {fit.intercept:.3g}")
    axis.set_xlabel("local mean (normalised intensity)")
    axis.set_ylabel("noise variance (normalised²)")
    axis.set_title(title or f"noise calibration ({fit.method})", fontsize="small")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
    return Path(path)


def plot_plan(plan: Plan, path: Path, title: str = "") -> Path:
    """SSIM, PSNR and FRC resolution against speed-up, raw fast scan and restored."""
    speedups = [row.speedup for row in plan.rows]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    series = (
        ("SSIM", "fast_ssim", "ssim"),
        ("PSNR (dB)", "fast_psnr", "psnr"),
        (f"FRC resolution ({plan.unit})", "fast_resolution", "resolution"),
    )
    for axis, (label, raw, restored) in zip(axes, series, strict=True):
        axis.plot(speedups, [getattr(r, raw) for r in plan.rows], "o--", label="fast scan")
        axis.plot(speedups, [getattr(r, restored) for r in plan.rows], "o-", label="restored")
        axis.set_xscale("log", base=2)
        axis.set_xticks(speedups, [f"{s:g}×" for s in speedups])
        axis.set_xlabel("speed-up")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].axhline(
        plan.target_ssim, color="red", linestyle=":", label=f"target {plan.target_ssim:g}"
    )
    axes[0].legend(fontsize="small")
    figure.suptitle(title or "quality vs speed-up")
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
    return Path(path)
