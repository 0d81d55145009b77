"""Simulate an SEM scan ``k`` times faster than a reference scan (dwell time / ``k``).

Per (Y, X) slice of a clean volume with normalised signal ``s`` (see ``profile``):

1. shot noise: Poisson(``s * E / k``) electrons, ``E = electrons_per_unit``, rescaled by
   ``k / E`` so the mean stays ``s`` (``1 - s`` electrons for an ``inverted`` profile);
2. detector noise: + Gaussian(0, ``read_noise``);
3. detector bandwidth: first-order low-pass along x, ``y[n] = (1 - a) x[n] + a y[n-1]``
   with ``a = profile.blur_pole(k)``; it blurs the signal and makes the noise
   x-correlated with lag-1 correlation exactly ``a``, and its gain at frequency 0 is 1;
4. line jitter (``k > 1`` only): + Gaussian(0, ``line_jitter``) per scan line.

The reference scan itself is taken as the clean signal; its own residual detector blur
``a(1)`` is applied again at every speed-up, so keep ``blur_tau`` well below 1 when the
reference is sharp. Slices are drawn one after another from one seeded generator, so a
seed reproduces the volume exactly and memory stays at a few slices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
from scipy.signal import lfilter, lfilter_zi

from vemrestore.simulate.profile import NoiseProfile, normalisation_scale


def scan_filter(image: np.ndarray, pole: float) -> np.ndarray:
    """Detector low-pass along the last axis (x) of a float array; starts in steady state."""
    if pole <= 0.0:
        return image
    b, a = [1.0 - pole], [1.0, -pole]
    initial = lfilter_zi(b, a) * image[..., :1]
    filtered, _ = lfilter(b, a, image, axis=-1, zi=initial)
    return filtered


def unscan_filter(image: np.ndarray, pole: float) -> np.ndarray:
    """Exact inverse of ``scan_filter`` for the steady-state start (a 2-tap FIR along x)."""
    if pole <= 0.0:
        return image
    previous = np.concatenate([image[..., :1], image[..., :-1]], axis=-1)
    return (image - pole * previous) / (1.0 - pole)


def fast_scan_slice(
    signal: np.ndarray, speedup: float, profile: NoiseProfile, rng: np.random.Generator
) -> np.ndarray:
    """One (Y, X) float64 normalised slice scanned ``speedup`` times faster; float64 out."""
    electrons = profile.electrons_per_unit / speedup
    electron_signal = 1.0 - signal if profile.inverted else signal
    detected = rng.poisson(np.clip(electron_signal, 0.0, None) * electrons) / electrons
    if profile.inverted:
        detected = 1.0 - detected
    if profile.read_noise > 0:
        detected = detected + rng.normal(0.0, profile.read_noise, signal.shape)
    scanned = scan_filter(detected, profile.blur_pole(speedup))
    if profile.line_jitter > 0 and speedup > 1:
        scanned = scanned + rng.normal(0.0, profile.line_jitter, (signal.shape[0], 1))
    return scanned


def iter_fast_scan(
    planes: Iterable[np.ndarray],
    speedup: float,
    profile: NoiseProfile,
    seed: int = 0,
    key_period: int | None = None,
    key_offset: int = 0,
) -> Iterator[np.ndarray]:
    """Fast scans of (Y, X) slices in z order, same dtype out (see ``simulate_fast_scan``).

    Streaming: memory stays at one slice, and the slices equal ``simulate_fast_scan``'s.
    """
    if not 1 <= speedup < math.inf:  # inf (and NaN) would give an all-zero volume
        raise ValueError(f"speed-up must be >= 1 and finite, got {speedup}")
    if key_period is not None and (key_period < 1 or not 0 <= key_offset < key_period):
        raise ValueError(
            f"need key period >= 1 and 0 <= offset < period, got {key_period}, {key_offset}"
        )
    rng = np.random.default_rng(seed)
    for z, plane in enumerate(planes):
        plane = np.asarray(plane)
        scale = normalisation_scale(plane.dtype)
        is_key = key_period is not None and z >= key_offset and (z - key_offset) % key_period == 0
        k = 1.0 if is_key else float(speedup)
        scanned = fast_scan_slice(plane.astype(np.float64) / scale, k, profile, rng) * scale
        if plane.dtype.kind in "ui":
            info = np.iinfo(plane.dtype)
            scanned = np.clip(np.rint(scanned), info.min, info.max)
        yield scanned.astype(plane.dtype)


def simulate_fast_scan(
    clean: np.ndarray,
    speedup: float,
    profile: NoiseProfile,
    seed: int = 0,
    key_period: int | None = None,
    key_offset: int = 0,
) -> np.ndarray:
    """A fast scan of ``clean``: (Z, Y, X) or (Y, X) uint8/uint16/float32 in, same out.

    ``speedup`` ≥ 1 divides the dwell time. With ``key_period`` p, slices ``key_offset``,
    ``key_offset + p``, … are key slices acquired at speed-up 1 (a key-slice acquisition).
    Integer outputs are rounded and clipped to the dtype range; floats are not clipped.
    """
    clean = np.asarray(clean)
    if clean.ndim not in (2, 3):
        raise ValueError(f"expected a (Z, Y, X) or (Y, X) array, got shape {clean.shape}")
    volume = clean[None] if clean.ndim == 2 else clean
    slices = iter_fast_scan(volume, speedup, profile, seed, key_period, key_offset)
    out = np.stack(list(slices))
    return out[0] if clean.ndim == 2 else out
