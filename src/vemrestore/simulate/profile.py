"""The noise profile of a scanning EM: the few numbers that say how a faster scan degrades.

All intensities are *normalised*: integer data divided by its dtype maximum (uint8 / 255,
uint16 / 65535), float32 data taken as is (nominally 0..1). A profile describes the scan at
the *reference* dwell time (speed-up 1); ``vemrestore.simulate.noise`` derives a scan ``k``
times faster from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vemrestore.errors import VemRestoreError
from vemrestore.io.atomic import atomic_output
from vemrestore.types import PathLike


class NoiseProfile(BaseModel):
    """Fast-scan noise model parameters, in normalised intensity units (see the module doc).

    - ``electrons_per_unit``: expected detected electrons per pixel for a normalised
      intensity of 1 at the reference dwell time. At speed-up ``k`` a pixel of signal ``s``
      receives Poisson(``s * electrons_per_unit / k``) electrons, so the shot-noise variance
      is ``gain * k * s`` with ``gain = 1 / electrons_per_unit``.
    - ``read_noise``: σ of the Gaussian detector/readout noise per pixel (independent of
      the speed). It enters the detector chain with the shot noise, before the bandwidth
      filter.
    - ``blur_tau``: detector time constant in units of the reference dwell time. The
      detector's limited bandwidth acts as a first-order low-pass along the fast-scan axis
      x with pole ``a(k) = exp(-1 / (blur_tau * k))`` per pixel: the lag-1 correlation of
      the noise along x. It grows with the speed-up (shorter dwell, same time constant);
      0 means no blur.
    - ``inverted``: the data shows few electrons as bright (contrast inverted for display,
      common in backscatter vEM so that membranes look dark as in TEM): the electron count
      is then proportional to ``1 - s`` and the noise variance falls with brightness.
    - The defaults (100 electrons, read noise 0.01, τ 0.1, no jitter) are a generic SEM;
      calibrate on your own data for real numbers.
    - ``line_jitter``: σ of a random intensity offset per scan line, a fast-scan artefact
      (applied at speed-ups above 1 only; the reference scan is taken as free of it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    electrons_per_unit: float = Field(100.0, gt=0.0, le=1e9)
    read_noise: float = Field(0.01, ge=0.0, le=10.0)
    blur_tau: float = Field(0.1, ge=0.0, le=1e4)
    line_jitter: float = Field(0.0, ge=0.0, le=10.0)
    inverted: bool = False

    @property
    def gain(self) -> float:
        """Shot-noise variance per unit normalised signal at the reference dwell time."""
        return 1.0 / self.electrons_per_unit

    def blur_pole(self, speedup: float) -> float:
        """Lag-1 x-correlation ``a(k)`` of the noise at ``speedup`` (0 = no blur)."""
        if self.blur_tau <= 0.0:
            return 0.0
        return math.exp(-1.0 / (self.blur_tau * speedup))

    def noise_variance(self, signal: np.ndarray | float, speedup: float) -> np.ndarray | float:
        """Per-pixel noise variance before the bandwidth filter, at normalised ``signal``."""
        electron_signal = 1.0 - np.asarray(signal) if self.inverted else np.asarray(signal)
        return self.gain * speedup * electron_signal + self.read_noise**2

    def describe(self) -> str:
        """One line for logs and reports."""
        return (
            f"{self.electrons_per_unit:.4g} electrons per unit intensity (gain {self.gain:.4g}), "
            f"read noise σ {self.read_noise:.4g}, blur τ {self.blur_tau:.4g} "
            f"(x-correlation {self.blur_pole(1):.3f} at 1×, {self.blur_pole(8):.3f} at 8×), "
            f"line jitter σ {self.line_jitter:.4g}"
            + (", inverted contrast" if self.inverted else "")
        )


def blur_tau_from_pole(pole: float, speedup: float) -> float:
    """Invert ``a(k) = exp(-1 / (tau * k))``; a pole ≤ 0 means no blur (tau 0)."""
    if pole <= 0.0:
        return 0.0
    pole = min(pole, 0.999)
    return -1.0 / (speedup * math.log(pole))


def load_profile(path: PathLike) -> NoiseProfile:
    """Read a profile JSON file; a bad file is the user's mistake, named in the error."""
    path = Path(path)
    if not path.is_file():
        raise VemRestoreError(f"{path}: noise profile not found")
    try:
        return NoiseProfile(**json.loads(path.read_text()))
    except json.JSONDecodeError as error:
        raise VemRestoreError(f"{path}: not a JSON noise profile ({error})") from None
    except (ValidationError, TypeError) as error:
        raise VemRestoreError(f"{path}: invalid noise profile: {error}") from None


def save_profile(profile: NoiseProfile, path: PathLike, overwrite: bool = True) -> Path:
    """Write ``profile`` as indented JSON; the file appears complete or not at all."""
    path = Path(path)
    with atomic_output(path, overwrite) as temporary:
        temporary.write_text(json.dumps(profile.model_dump(), indent=2) + "\n")
    return path


def normalisation_scale(dtype: np.dtype) -> float:
    """Divisor mapping ``dtype`` values to normalised intensity (1 for floats)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).max)
    if dtype.kind == "f":
        return 1.0
    raise ValueError(f"unsupported dtype {dtype}: expected an integer or float type")
