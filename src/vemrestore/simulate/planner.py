"""The acquisition planner: how much faster can a sample be scanned for a target quality?

For each speed-up ``k``: simulate a ``k``-times faster scan of the pilot (the slow scan,
taken as the truth), restore it with a caller-given ``Restorer``, and score both the raw
fast scan and the restoration against the pilot (PSNR, SSIM, FRC resolution at 1/7). The
planner holds no files and no models: the restorer is any ``(fast, speedup) -> restored``
callable, e.g. a trained checkpoint or a short training run per speed-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from vemrestore.evaluation.frc import frc, mean_curve
from vemrestore.evaluation.quality import resolution
from vemrestore.evaluation.scores import default_data_range, volume_quality
from vemrestore.simulate.noise import simulate_fast_scan
from vemrestore.simulate.profile import NoiseProfile

logger = logging.getLogger(__name__)

Restorer = Callable[[np.ndarray, float], np.ndarray]
"""``(fast (Z, Y, X) array, speed-up) -> restored array`` of the same shape and dtype."""


@dataclass(frozen=True)
class PlanRow:
    """Quality at one speed-up: the raw fast scan and its restoration against the pilot.

    Resolutions are in nm with a known pixel size, else in pixels.
    """

    speedup: float
    fast_psnr: float
    fast_ssim: float
    fast_resolution: float
    psnr: float
    ssim: float
    resolution: float


@dataclass(frozen=True)
class Plan:
    """The planner's table and the target it was asked for."""

    rows: tuple[PlanRow, ...]
    target_ssim: float
    unit: str
    profile: NoiseProfile
    notes: tuple[str, ...] = ()
    """What the restorer reported, e.g. models that did not beat their input in training."""

    @property
    def recommended(self) -> PlanRow | None:
        """The largest speed-up whose restoration reaches the target SSIM (None if none does)."""
        passing = [row for row in self.rows if row.ssim >= self.target_ssim]
        return max(passing, key=lambda row: row.speedup) if passing else None

    @property
    def raw_recommended(self) -> PlanRow | None:
        """The largest speed-up whose raw fast scan already reaches the target SSIM."""
        passing = [row for row in self.rows if row.fast_ssim >= self.target_ssim]
        return max(passing, key=lambda row: row.speedup) if passing else None

    @property
    def restoration_speedup(self) -> tuple[float, float]:
        """(speed-up without restoration, with it) that reach the target; 1 when none does
        (the reference scan). Restoration is credited only with the step between the two."""
        raw, restored = self.raw_recommended, self.recommended
        without = raw.speedup if raw is not None else 1.0
        return without, max(without, restored.speedup if restored is not None else 1.0)

    def table(self) -> str:
        """Markdown table, one row per speed-up."""
        unit = self.unit
        lines = [
            f"| speed-up | fast PSNR (dB) | fast SSIM | fast FRC res. ({unit}) | restored PSNR "
            f"(dB) | restored SSIM | restored FRC res. ({unit}) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.speedup:g}× | {r.fast_psnr:.2f} | {r.fast_ssim:.3f} | "
                f"{r.fast_resolution:.1f} | {r.psnr:.2f} | {r.ssim:.3f} | {r.resolution:.1f} |"
            )
        return "\n".join(lines)

    def csv(self) -> str:
        """The table as CSV (resolution columns carry the unit in their names)."""
        header = f"speedup,fast_psnr_db,fast_ssim,fast_frc_{self.unit},psnr_db,ssim,frc_{self.unit}"
        rows = [
            f"{r.speedup:g},{r.fast_psnr:.4f},{r.fast_ssim:.5f},{r.fast_resolution:.3f},"
            f"{r.psnr:.4f},{r.ssim:.5f},{r.resolution:.3f}"
            for r in self.rows
        ]
        return "\n".join([header, *rows]) + "\n"


@dataclass(frozen=True)
class AcquisitionTime:
    """Scan time of a volume at the reference dwell and at a speed-up, in seconds."""

    reference_s: float
    fast_s: float

    @property
    def saved_s(self) -> float:
        return self.reference_s - self.fast_s


def acquisition_time(
    volume_size: tuple[int, int, int], dwell_us: float, speedup: float
) -> AcquisitionTime:
    """Pure pixel dwell time of a (Z, Y, X)-voxel volume (no flyback, stage or cutting time)."""
    voxels = float(np.prod(np.asarray(volume_size, dtype=np.float64)))
    reference = voxels * dwell_us * 1e-6
    return AcquisitionTime(reference, reference / speedup)


def plan_acquisition(
    pilot: np.ndarray,
    speedups: Sequence[float],
    profile: NoiseProfile,
    restorer: Restorer,
    *,
    target_ssim: float = 0.9,
    seed: int = 0,
    pixel_size: float | None = None,
    progress: bool = False,
) -> Plan:
    """Plan on a (Z, Y, X) slow-scan pilot (uint8/uint16/float32); see the module docstring.

    Each speed-up's fast scan is drawn with seed ``seed + index`` (reproducible). SSIM and
    PSNR use the pilot dtype's range (``default_data_range``).
    """
    pilot = np.asarray(pilot)
    if pilot.ndim != 3:
        raise ValueError(f"the pilot must be a (Z, Y, X) volume, got shape {pilot.shape}")
    if not speedups or min(speedups) < 1:
        raise ValueError(f"speed-ups must be >= 1, got {list(speedups)}")
    peak = default_data_range(pilot)
    rows = []
    for index, speedup in enumerate(tqdm(speedups, desc="plan", disable=not progress)):
        fast = simulate_fast_scan(pilot, speedup, profile, seed + index)
        restored = np.asarray(restorer(fast, float(speedup)))
        if restored.shape != pilot.shape:
            raise ValueError(f"restorer returned shape {restored.shape}, expected {pilot.shape}")
        fast_scores = volume_quality(fast, pilot, peak)
        scores = volume_quality(restored, pilot, peak)
        row = PlanRow(
            speedup=float(speedup),
            fast_psnr=fast_scores.psnr,
            fast_ssim=fast_scores.ssim,
            fast_resolution=_resolution(fast, pilot, pixel_size),
            psnr=scores.psnr,
            ssim=scores.ssim,
            resolution=_resolution(restored, pilot, pixel_size),
        )
        logger.info(
            "speed-up %g: fast SSIM %.3f, restored SSIM %.3f", speedup, row.fast_ssim, row.ssim
        )
        rows.append(row)
    unit = "nm" if pixel_size is not None else "px"
    return Plan(tuple(rows), target_ssim, unit, profile)


def _resolution(volume: np.ndarray, pilot: np.ndarray, pixel_size: float | None) -> float:
    return resolution(
        mean_curve([frc(v, p, pixel_size) for v, p in zip(volume, pilot, strict=True)])
    )
