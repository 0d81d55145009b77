"""Single noisy volumes for self-supervised training: loading, drift flattening, z padding.

A noisy volume is both the network's input and, through its sub-lattices, its own target
(``vemrestore.tasks.checkerboard``); patches hand it to the task under the role ``noisy``.

Volumes with fewer slices than the network window (a single 2D image, a short stack) are
extended along z by mirror reflection, the same rule the inference engine uses to fill a
window (``vemrestore.geometry.reflect_indices``): a 1-slice image becomes ``window`` copies of
itself, so one model setting serves images and volumes, and training sees exactly what
inference will feed the network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from vemrestore.config.normalization import NormalizationConfig
from vemrestore.data.normalization import fit_normalizer
from vemrestore.evaluation.noise import NoiseReport
from vemrestore.geometry import reflect_indices
from vemrestore.io import open_volume
from vemrestore.types import PathLike

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoisyVolume:
    """A loaded noisy volume, normalised as inference will normalise it: (Z, Y, X) float32."""

    name: str
    noisy: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.noisy.shape

    @property
    def volumes(self) -> dict[str, np.ndarray]:
        """The array by role, as patches hand it to a task."""
        return {"noisy": self.noisy}


@dataclass(frozen=True)
class CleanVolume:
    """A clean (slow-scan) volume that synthetic training degrades itself: (Z, Y, X) float32."""

    name: str
    clean: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.clean.shape

    @property
    def volumes(self) -> dict[str, np.ndarray]:
        return {"clean": self.clean}


VolumeT = TypeVar("VolumeT", NoisyVolume, CleanVolume)


def _read_normalised(path: PathLike, normalization: NormalizationConfig) -> np.ndarray:
    with open_volume(path) as reader:
        normalizer = fit_normalizer(normalization, reader)
        return normalizer.normalize(reader.read(slice(None)))


def load_noisy(path: PathLike, normalization: NormalizationConfig) -> NoisyVolume:
    """Read a whole volume file (TIFF, slice folder, Zarr) as normalised float32."""
    noisy = _read_normalised(path, normalization)
    logger.info("noisy volume %s, shape %s", path, noisy.shape)
    return NoisyVolume(Path(path).name, noisy)


def load_clean(path: PathLike, normalization: NormalizationConfig) -> CleanVolume:
    """Read a whole clean volume file as normalised float32."""
    clean = _read_normalised(path, normalization)
    logger.info("clean volume %s, shape %s", path, clean.shape)
    return CleanVolume(Path(path).name, clean)


def flatten_drift(volume: NoisyVolume, report: NoiseReport) -> NoisyVolume:
    """Give every slice the volume's median brightness and contrast (per-slice affine map).

    ``report`` is ``inspect_noise`` of this volume. Slices without measurable contrast are
    only shifted. Noise scales with its slice, so a slice that was brighter *and* noisier
    keeps its relative noise level.
    """
    reference_mean = float(np.median(report.mean))
    reference_contrast = float(np.median(report.contrast))
    contrast = report.contrast
    gains = np.where(contrast > 0, reference_contrast / np.maximum(contrast, 1e-12), 1.0)
    offsets = report.mean[:, None, None].astype(np.float32)
    flattened = (volume.noisy - offsets) * gains[:, None, None].astype(np.float32)
    return NoisyVolume(volume.name, flattened + np.float32(reference_mean))


def pad_to_window(volume: VolumeT, window: int) -> VolumeT:
    """Mirror a volume shallower than ``window`` along z up to ``window`` slices (centred)."""
    depth = volume.shape[0]
    if depth >= window:
        return volume
    start = -((window - depth) // 2)
    indices = reflect_indices(start, start + window, depth)
    logger.info("%s: %d slices, mirrored along z to the window of %d", volume.name, depth, window)
    ((role, array),) = volume.volumes.items()
    return replace(volume, **{role: np.ascontiguousarray(array[indices])})
