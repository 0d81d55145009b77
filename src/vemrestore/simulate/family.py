"""A randomised family of fast-scan degradations, for training a generalist and for benchmarks.

One draw (``ScanNoise``) is a complete fast-scan condition in normalised units (0..1):

- shot noise: Poisson with ``electrons`` expected electrons at white (signal 1), or at black
  for ``inverted`` contrast (backscatter data shown inverted);
- read noise: Gaussian, σ ``read_noise``;
- detector lag along x: the causal first-order low-pass of ``vemrestore.simulate.noise``
  with time constant ``lag`` pixels (pole ``exp(-1 / lag)``, the lag-1 noise correlation);
- line jitter: a Gaussian offset per scan line, σ ``line_jitter``;
- bit depth: the result quantised to 8 or 16 bits;
- registration: optionally the noisy scan resampled by a sub-pixel shift (cubic spline), as
  registering a fast scan onto a slow one does; it correlates neighbouring pixels in x *and*
  y. The signal is pre-shifted the other way, so the result stays aligned with the clean one.

``NoiseFamily`` holds the ranges a draw comes from (shot noise log-uniform, the others
uniform); its defaults span the grid of ``benchmarks/generalization.py``. Every draw and every
degradation takes an explicit ``numpy.random.Generator``, so a seed reproduces both.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.ndimage import shift as spline_shift

from vemrestore.simulate.noise import scan_filter


class ScanNoise(BaseModel):
    """One fast-scan condition (see the module docstring); intensities normalised to 0..1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    electrons: float = Field(100.0, gt=0.0, le=1e7)
    read_noise: float = Field(0.0, ge=0.0, le=1.0)
    lag: float = Field(0.0, ge=0.0, le=20.0)
    line_jitter: float = Field(0.0, ge=0.0, le=1.0)
    bits: int = Field(8, ge=0, le=16)
    """0 keeps floats (no quantisation)."""
    registered: bool = False
    inverted: bool = False

    @property
    def pole(self) -> float:
        """Lag-1 x-correlation the detector lag gives the noise (0 without lag)."""
        return math.exp(-1.0 / self.lag) if self.lag > 0 else 0.0

    def describe(self) -> str:
        parts = [f"{self.electrons:g} e⁻ at white"]
        if self.read_noise:
            parts.append(f"read σ {self.read_noise:g}")
        if self.lag:
            parts.append(f"lag {self.lag:g} px")
        if self.line_jitter:
            parts.append(f"jitter σ {self.line_jitter:g}")
        if self.registered:
            parts.append("registered")
        if self.bits:
            parts.append(f"{self.bits}-bit")
        return ", ".join(parts)


class NoiseFamily(BaseModel):
    """Ranges a ``ScanNoise`` is drawn from: shot noise log-uniform, the rest uniform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    electrons: tuple[float, float] = (3.0, 800.0)
    read_noise: tuple[float, float] = (0.0, 0.03)
    lag: tuple[float, float] = (0.0, 1.6)
    line_jitter: tuple[float, float] = (0.0, 0.03)
    no_lag_probability: float = Field(0.3, ge=0.0, le=1.0)
    registered_probability: float = Field(0.25, ge=0.0, le=1.0)
    inverted_probability: float = Field(0.5, ge=0.0, le=1.0)
    sixteen_bit_probability: float = Field(0.3, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> NoiseFamily:
        for name in ("electrons", "read_noise", "lag", "line_jitter"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name}: need 0 <= low <= high, got ({low}, {high})")
        if self.electrons[0] <= 0:
            raise ValueError("electrons: the lower bound must be > 0")
        return self

    def draw(self, rng: np.random.Generator) -> ScanNoise:
        """One random condition from the family."""
        low, high = np.log(self.electrons)
        lag = 0.0 if rng.random() < self.no_lag_probability else rng.uniform(*self.lag)
        return ScanNoise(
            electrons=float(np.exp(rng.uniform(low, high))),
            read_noise=float(rng.uniform(*self.read_noise)),
            lag=float(lag),
            line_jitter=float(rng.uniform(*self.line_jitter)),
            bits=16 if rng.random() < self.sixteen_bit_probability else 8,
            registered=bool(rng.random() < self.registered_probability),
            inverted=bool(rng.random() < self.inverted_probability),
        )


def degrade(clean: np.ndarray, noise: ScanNoise, rng: np.random.Generator) -> np.ndarray:
    """A fast scan of ``clean``: (..., Y, X) float in 0..1 → float32 of the same shape.

    Leading axes are independent slices, each scanned line by line along x.
    """
    clean = np.asarray(clean, dtype=np.float64)
    shift = rng.uniform(-0.5, 0.5, 2) if noise.registered else None
    signal = _shift_planes(clean, -shift) if shift is not None else clean
    electron_signal = 1.0 - signal if noise.inverted else signal
    detected = rng.poisson(np.clip(electron_signal, 0.0, None) * noise.electrons) / noise.electrons
    if noise.inverted:
        detected = 1.0 - detected
    if noise.read_noise > 0:
        detected = detected + rng.normal(0.0, noise.read_noise, detected.shape)
    scanned = scan_filter(detected, noise.pole)
    if noise.line_jitter > 0:
        scanned = scanned + rng.normal(0.0, noise.line_jitter, (*scanned.shape[:-1], 1))
    if shift is not None:
        scanned = _shift_planes(scanned, shift)
    if noise.bits:
        levels = float(2**noise.bits - 1)
        scanned = np.clip(np.rint(scanned * levels), 0.0, levels) / levels
    return scanned.astype(np.float32)


def _shift_planes(planes: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Shift every (Y, X) plane of a (..., Y, X) array by (dy, dx) px, cubic spline, reflect."""
    flat = planes.reshape(-1, *planes.shape[-2:])
    moved = [spline_shift(plane, shift, order=3, mode="reflect") for plane in flat]
    return np.stack(moved).reshape(planes.shape)
