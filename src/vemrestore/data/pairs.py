"""Registered (fast, slow) training pairs: discovery, consistency checks, loading.

A pair is two scans of the same block: the fast one is what the network sees, the slow one
what it should produce. Pairs are refused when their shapes or dtypes differ or when the two
scans are visibly shifted against each other (the network would learn to blur).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vemrestore.config.normalization import NormalizationConfig
from vemrestore.data.normalization import fit_normalizer
from vemrestore.errors import VemRestoreError
from vemrestore.io import open_volume
from vemrestore.io.base import VolumeReader
from vemrestore.types import PathLike

logger = logging.getLogger(__name__)

_REGISTRATION_SAMPLES = 5
_VOLUME_SUFFIXES = (".tif", ".tiff")
_LOWPASS_SIGMA = 0.08
"""Spectral weight width (cycles/px) of the registration check."""


@dataclass(frozen=True)
class TrainingPair:
    """A loaded pair, normalised with the fast volume's normaliser (as inference will be).

    ``fast`` and ``slow`` are (Z, Y, X) float32 arrays of equal shape.
    """

    name: str
    fast: np.ndarray
    slow: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.fast.shape

    @property
    def volumes(self) -> dict[str, np.ndarray]:
        """The arrays by role, as patches hand them to a task."""
        return {"fast": self.fast, "slow": self.slow}


def find_pairs(folder: PathLike) -> list[tuple[Path, Path]]:
    """Every (fast, slow) pair in ``folder``: names containing ``fast``/``slow``, shared stem.

    ``a_fast.tif`` pairs with ``a_slow.tif``; a fast file without its slow partner is an error.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VemRestoreError(f"{folder}: pair folder not found")
    entries = {
        p.name: p
        for p in folder.iterdir()
        if p.is_dir() or p.suffix.lower() in _VOLUME_SUFFIXES  # files, or slice folders / zarr
    }
    pairs = []
    for name, path in sorted(entries.items()):
        index = name.lower().find("fast")
        if index < 0:
            continue
        partner = name[:index] + "slow" + name[index + 4 :]
        match = next((p for n, p in entries.items() if n.lower() == partner.lower()), None)
        if match is None:
            raise VemRestoreError(f"{path}: no slow partner {partner} in {folder}")
        pairs.append((path, match))
    if not pairs:
        raise VemRestoreError(f"{folder}: no fast/slow pairs (file names need 'fast' and 'slow')")
    return pairs


def phase_shift(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """(dy, dx) integer shift of ``moving`` against ``reference`` (2D), by phase correlation.

    The whitened cross-power spectrum is low-pass weighted (noise dominates high frequencies
    of fast scans) and the images are Hann-windowed (against wrap-around edges).
    """
    window = np.outer(np.hanning(reference.shape[0]), np.hanning(reference.shape[1]))
    a = np.fft.fft2((reference - reference.mean()) * window)
    b = np.fft.fft2((moving - moving.mean()) * window)
    cross = a * np.conj(b)
    cross /= np.abs(cross) + 1e-12
    fy, fx = np.meshgrid(*(np.fft.fftfreq(n) for n in reference.shape), indexing="ij")
    cross *= np.exp(-(fy**2 + fx**2) / (2 * _LOWPASS_SIGMA**2))
    correlation = np.real(np.fft.ifft2(cross))
    peak = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    shift = [p - s if p > s // 2 else p for p, s in zip(peak, correlation.shape, strict=True)]
    return float(-shift[0]) + 0.0, float(-shift[1]) + 0.0


def check_pair(fast: VolumeReader, slow: VolumeReader, max_shift: float | None) -> None:
    """Refuse pairs of different shape or dtype, or shifted by more than ``max_shift`` px.

    The shift is measured by phase correlation on a few evenly spaced slices, so it stays
    cheap on large volumes; ``max_shift=None`` skips it.
    """
    if fast.shape != slow.shape:
        raise VemRestoreError(
            f"{fast.name}: shape {fast.shape} differs from its slow partner {slow.name} "
            f"{slow.shape}; register and crop the pair first"
        )
    if fast.dtype != slow.dtype:
        raise VemRestoreError(
            f"{fast.name}: dtype {fast.dtype} differs from its slow partner {slow.name} "
            f"({slow.dtype})"
        )
    if max_shift is None:
        return
    depth = fast.shape[0]
    for z in np.unique(np.linspace(0, depth - 1, min(depth, _REGISTRATION_SAMPLES)).astype(int)):
        a = fast.read(slice(z, z + 1))[0].astype(np.float32)
        b = slow.read(slice(z, z + 1))[0].astype(np.float32)
        dy, dx = phase_shift(a, b)
        if max(abs(dy), abs(dx)) > max_shift:
            raise VemRestoreError(
                f"{fast.name}: misregistered against {slow.name} at slice {z} "
                f"(slow scan measured shift dy={dy:g}, dx={dx:g} px > {max_shift:g}); "
                "register the pair"
            )


def load_pairs(
    pairs: list[tuple[PathLike, PathLike]],
    normalization: NormalizationConfig,
    max_shift: float | None = 1.0,
) -> list[TrainingPair]:
    """Open, check and load every pair into memory as normalised float32."""
    if not pairs:
        raise VemRestoreError("no training pairs given (use --fast/--slow or data.folder)")
    loaded = []
    for fast_path, slow_path in pairs:
        with open_volume(fast_path) as fast, open_volume(slow_path) as slow:
            check_pair(fast, slow, max_shift)
            normalizer = fit_normalizer(normalization, fast)
            loaded.append(
                TrainingPair(
                    name=Path(fast_path).name,
                    fast=normalizer.normalize(fast.read(slice(None))),
                    slow=normalizer.normalize(slow.read(slice(None))),
                )
            )
        logger.info("training pair %s + %s, shape %s", fast_path, slow_path, fast.shape)
    return loaded
