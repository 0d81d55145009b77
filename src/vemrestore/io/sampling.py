"""Bounded reads of large volumes for the commands that estimate statistics.

``evaluate``, ``calibrate`` and ``inspect noise`` measure noise levels, PSNR and resolution:
evenly spaced whole slices estimate them as well as the full volume does, without holding a
terabyte in memory. A volume within the budget is read whole; a larger one is read as evenly
spaced slices, and a slice too large even for ``MIN_SLICES`` of them as a central crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vemrestore.io.base import VolumeReader

SAMPLE_BYTES = 512 * 2**20
"""Most bytes of one volume read for statistics (per volume: input, restored, reference)."""

MIN_SLICES = 8
"""Slices a sample keeps at least (when the volume has them), cropping each if needed."""


@dataclass(frozen=True)
class Sample:
    """Which part of a (Z, Y, X) volume is read: slice numbers ``z`` and an in-plane region."""

    shape: tuple[int, int, int]
    z: tuple[int, ...]
    y: slice
    x: slice

    @property
    def whole(self) -> bool:
        return len(self.z) == self.shape[0] and self.region_shape == self.shape[1:]

    @property
    def region_shape(self) -> tuple[int, int]:
        return (self.y.stop - self.y.start, self.x.stop - self.x.start)

    def describe(self) -> str:
        """One line for reports, e.g. ``64 of 2000 slices, evenly spaced``."""
        if self.whole:
            return "the whole volume"
        parts = [f"{len(self.z)} of {self.shape[0]} slices, evenly spaced"]
        if self.region_shape != self.shape[1:]:
            parts.append(f"central {self.region_shape[0]}×{self.region_shape[1]} px")
        return ", ".join(parts)


def plan_sample(
    shape: tuple[int, int, int], dtype: np.dtype, *, max_bytes: int | None = None
) -> Sample:
    """The part of a volume of ``shape`` and ``dtype`` to read within ``max_bytes``
    (default ``SAMPLE_BYTES``)."""
    max_bytes = max_bytes or SAMPLE_BYTES
    depth, height, width = shape
    plane = height * width * np.dtype(dtype).itemsize
    count = min(depth, max(1, max_bytes // max(plane, 1)))
    if count < min(depth, MIN_SLICES):
        count = min(depth, MIN_SLICES)
        side = int((max_bytes / (count * np.dtype(dtype).itemsize)) ** 0.5)
        height_kept, width_kept = min(height, side), min(width, side)
    else:
        height_kept, width_kept = height, width
    y0, x0 = (height - height_kept) // 2, (width - width_kept) // 2
    z = tuple(int(v) for v in np.unique(np.linspace(0, depth - 1, count).round()))
    return Sample(shape, z, slice(y0, y0 + height_kept), slice(x0, x0 + width_kept))


def read_sample(reader: VolumeReader, sample: Sample) -> np.ndarray:
    """The planned part of ``reader``'s volume, as (len(z), Y', X')."""
    if sample.whole:
        return reader.read(slice(None))
    out = np.empty((len(sample.z), *sample.region_shape), dtype=reader.dtype)
    for row, z in enumerate(sample.z):
        out[row] = reader.read(slice(z, z + 1), sample.y, sample.x)[0]
    return out
