"""Fitted intensity normalisation: forward before the network, exact inverse after it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vemrestore.config import NormalizationConfig
from vemrestore.io.base import VolumeReader

logger = logging.getLogger(__name__)

_MAX_SAMPLE_SLICES = 16
_MAX_SAMPLE_PIXELS_PER_SLICE = 1 << 20


@dataclass(frozen=True)
class Normalizer:
    """Maps intensity ``low`` to 0 and ``high`` to 1 (float32), and back."""

    low: float
    high: float

    def normalize(self, data: np.ndarray) -> np.ndarray:
        """Any dtype in, float32 out."""
        values = np.subtract(data, np.float32(self.low), dtype=np.float32)  # exact cast first
        values *= np.float32(1.0 / (self.high - self.low))
        return values

    def denormalize(
        self, data: np.ndarray, dtype: np.dtype, *, overwrite: bool = False
    ) -> np.ndarray:
        """Invert ``normalize``; integers are rounded and clipped to the dtype's range.

        ``overwrite`` lets a float32 ``data`` hold the intermediate values (one pass and one
        array fewer, for callers done with it, e.g. the engine's finished slices)."""
        scale = np.float32(self.high - self.low)
        if overwrite and data.dtype == np.float32:
            values = np.multiply(data, scale, out=data)
        else:
            values = data * scale  # a new array, modified in place
        values += np.float32(self.low)
        dtype = np.dtype(dtype)
        if dtype.kind in "ui":
            info = np.iinfo(dtype)
            np.clip(np.rint(values, out=values), info.min, info.max, out=values)
        return values.astype(dtype, copy=False)


def dtype_range(dtype: np.dtype) -> tuple[float, float]:
    """The intensity range a dtype can hold; float data are taken as already in 0..1 (for
    bare arrays; ``fit_normalizer`` gives float volumes percentiles instead)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return 0.0, 1.0


def fit_normalizer(config: NormalizationConfig, reader: VolumeReader) -> Normalizer:
    """Fit ``config`` to a volume; percentiles come from a bounded sample (memory stays small).

    Up to 16 evenly spaced slices, each strided down to about one megapixel, are enough for
    stable 0.1/99.9 percentiles and keep this cheap on terabyte volumes.

    ``dtype`` mode respects what the data are: uint16 data that use only 12 or 14 bits (most
    detectors) are divided by 4095 or 16383, not 65535; float data carry no range of their
    own (Fiji's 32-bit conversion keeps raw counts), so they get percentile normalisation,
    with a log warning that says so.
    """
    dtype = np.dtype(reader.dtype)
    if config.mode == "dtype" and dtype.kind in "ui":
        low, high = dtype_range(dtype)
        if dtype == np.uint16:
            high = _used_bits_maximum(float(sample_intensities(reader).max()))
        return Normalizer(low, high)
    if config.mode == "dtype":
        logger.warning(
            "%s input has no intensity range of its own: normalised by its %g–%g percentiles",
            dtype,
            config.low_percentile,
            config.high_percentile,
        )
    low, high = np.percentile(
        sample_intensities(reader), [config.low_percentile, config.high_percentile]
    )
    if high <= low:
        high = low + 1.0
    return Normalizer(float(low), float(high))


def sample_intensities(reader: VolumeReader) -> np.ndarray:
    """A bounded sample of a volume's voxels: up to 16 evenly spaced slices, each strided
    down to about one megapixel; 1-D, the volume's dtype."""
    depth, height, width = reader.shape
    z_indices = np.unique(np.linspace(0, depth - 1, min(depth, _MAX_SAMPLE_SLICES)).astype(int))
    stride = max(1, int(np.sqrt(height * width / _MAX_SAMPLE_PIXELS_PER_SLICE)))
    samples = [reader.read(slice(z, z + 1))[0, ::stride, ::stride].ravel() for z in z_indices]
    return np.concatenate(samples)


def _used_bits_maximum(maximum: float) -> float:
    """The full scale of a 16-bit container: 4095 (12-bit), 16383 (14-bit) or 65535."""
    for bits in (12, 14):
        if maximum <= 2**bits - 1:
            logger.info("uint16 data within %d bits: normalised by %d", bits, 2**bits - 1)
            return float(2**bits - 1)
    return 65535.0


SPREAD_PERCENTILES = (1.0, 99.0)
_SPREAD_TOLERANCE = 0.2
"""A spread end moved by more than this fraction of the training spread is worth a warning."""


def intensity_spread(normalized: np.ndarray) -> tuple[float, float]:
    """1st and 99th percentiles of normalised intensities (any shape, a sample is enough):
    where the data sit in the network's input range. Recorded in checkpoints."""
    low, high = np.percentile(np.asarray(normalized, dtype=np.float32), SPREAD_PERCENTILES)
    return float(low), float(high)


def spread_mismatch(trained: tuple[float, float], found: tuple[float, float]) -> str | None:
    """Why intensities ``found`` in an input do not match those a model was ``trained`` on
    (both ``intensity_spread``s), or None when they match within 20 % of the training span."""
    span = max(trained[1] - trained[0], 1e-6)
    if max(abs(f - t) for f, t in zip(found, trained, strict=True)) <= _SPREAD_TOLERANCE * span:
        return None
    return (
        f"its intensities (1–99 % at {found[0]:.2f}–{found[1]:.2f} after normalisation) differ "
        f"from the model's training input ({trained[0]:.2f}–{trained[1]:.2f}): the restoration "
        "may be off; check the bit depth and contrast, or fine-tune on this data"
    )
