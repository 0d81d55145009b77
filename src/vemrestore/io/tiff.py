"""Multi-page TIFF volumes: memory-mapped or page-wise reading, streamed ImageJ/BigTIFF writing."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import (
    VolumeReader,
    VolumeSpec,
    VoxelSize,
    checked_slices,
    error_reason,
    nm_per_unit,
    validate_volume_shape,
)

CLASSIC_TIFF_LIMIT = 2**32
"""Offsets in a classic (and ImageJ) TIFF are 32-bit, so everything must fit below 4 GiB."""

TIFF_HEADROOM = 64 * 2**20
"""Room kept below the limit for headers, IFDs and the ImageJ description."""

BYTES_PER_PAGE_HEADER = 1024
"""Generous upper bound on one page's IFD and tag values."""

MAX_DECODE_RATIO = 10_000
"""Largest decoded-to-stored size of a compressed slice; beyond it the header is not believed."""

SMALL_SLICE_BYTES = 64 * 2**20
"""Slices up to this size are decoded whatever their compression ratio."""


def needs_bigtiff(spec: VolumeSpec) -> bool:
    """Whether the volume is too large for a classic (ImageJ-compatible) TIFF."""
    headers = spec.shape[0] * BYTES_PER_PAGE_HEADER + TIFF_HEADROOM
    return spec.nbytes + headers >= CLASSIC_TIFF_LIMIT


def imagej_calibration(voxel_size: VoxelSize | None, axes: str) -> dict[str, Any]:
    """``TiffWriter.write`` arguments that make Fiji show the voxel size in nm."""
    metadata: dict[str, Any] = {"axes": axes}
    if voxel_size is None:
        return {"metadata": metadata}
    z_nm, y_nm, x_nm = voxel_size
    return {
        "resolution": (1.0 / x_nm, 1.0 / y_nm),
        "metadata": {**metadata, "spacing": z_nm, "unit": "nm"},
    }


def _bigtiff_calibration(voxel_size: VoxelSize | None) -> dict[str, Any]:
    """Voxel size as shaped metadata (read back exactly) plus standard resolution tags."""
    metadata: dict[str, Any] = {"axes": "ZYX"}
    if voxel_size is None:
        return {"metadata": metadata}
    z_nm, y_nm, x_nm = voxel_size
    return {
        "resolution": (1e7 / x_nm, 1e7 / y_nm),
        "resolutionunit": "CENTIMETER",
        "metadata": {**metadata, "voxel_size_nm": [z_nm, y_nm, x_nm]},
    }


def write_tiff(path: Path, slices: Iterable[np.ndarray], spec: VolumeSpec) -> None:
    """Write an uncompressed 3D TIFF one slice at a time (memory: one slice).

    ImageJ hyperstack when it fits in a classic TIFF (Fiji then shows the calibration), BigTIFF
    with shaped metadata otherwise. Uncompressed so that it can be memory-mapped when read.
    """
    stream = checked_slices(slices, spec)
    bigtiff = needs_bigtiff(spec)
    calibration = (
        _bigtiff_calibration(spec.voxel_size)
        if bigtiff
        else imagej_calibration(spec.voxel_size, "ZYX")
    )
    with tifffile.TiffWriter(path, bigtiff=bigtiff, imagej=not bigtiff) as writer:
        writer.write(
            stream, shape=spec.shape, dtype=spec.dtype, photometric="minisblack", **calibration
        )
    next(stream, None)


def write_tiff_slice(path: Path, image: np.ndarray, voxel_size: VoxelSize | None) -> None:
    """Write one 2D ImageJ TIFF slice carrying the volume's voxel size."""
    tifffile.imwrite(
        path, image, imagej=True, photometric="minisblack", **imagej_calibration(voxel_size, "YX")
    )


def read_voxel_size(tif: tifffile.TiffFile) -> VoxelSize | None:
    """Voxel size in nm from our shaped metadata or ImageJ calibration; None when absent."""
    shaped = tif.shaped_metadata
    if shaped and "voxel_size_nm" in shaped[0]:
        z_nm, y_nm, x_nm = (float(value) for value in shaped[0]["voxel_size_nm"])
        return (z_nm, y_nm, x_nm)
    imagej = tif.imagej_metadata
    factor = nm_per_unit(imagej.get("unit")) if imagej else None
    if imagej is None or factor is None:
        return None
    tags = tif.pages.first.tags
    # Resolution is pixels per unit; ImageJ's default calibration is 1 unit per pixel.
    x_size, y_size = (
        _unit_per_pixel(tags.valueof(name)) for name in ("XResolution", "YResolution")
    )
    z_size = float(imagej.get("spacing", 1.0))
    return (z_size * factor, y_size * factor, x_size * factor)


def _unit_per_pixel(rational: tuple[int, int] | None) -> float:
    if not rational or rational[0] == 0:
        return 1.0
    numerator, denominator = rational
    return denominator / numerator


def _open_tiff(path: Path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except OSError as error:
        raise VemRestoreError(f"{path}: cannot read the file ({error_reason(error)})") from None
    except Exception as error:
        # tifffile raises TiffFileError, ValueError, struct.error... for damaged files.
        raise VemRestoreError(
            f"{path}: not a TIFF file or corrupt ({error_reason(error)})"
        ) from None


class TiffReader(VolumeReader):
    """A 3D (or single 2D) greyscale TIFF.

    Uncompressed contiguous files are memory-mapped, so reading a region touches only that
    region; others are decoded page by page, so a z-range decodes only its pages.
    """

    format = "tiff"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        self._tif = _open_tiff(self.path)
        try:
            self._data_offset = self._inspect()
        except VemRestoreError:
            self._tif.close()
            raise
        except Exception as error:  # tifffile parses the pages lazily, on first access
            self._tif.close()
            raise VemRestoreError(
                f"{self.name}: not a TIFF file or corrupt ({error_reason(error)})"
            ) from None
        except BaseException:
            self._tif.close()
            raise

    @property
    def memory_mapped(self) -> bool:
        """True when regions are read through a memory map rather than by decoding pages."""
        return self._data_offset is not None

    @property
    def block_readable(self) -> bool:
        return self.memory_mapped

    def _inspect(self) -> int | None:
        """Validate the file, fill ``spec``; return the byte offset of contiguous pixel data."""
        if not self._tif.series:
            raise VemRestoreError(f"{self.name}: the TIFF contains no images")
        series = self._tif.series[0]
        # Length-1 axes other than Y and X (e.g. a stored (1, Z, 1, Y, X)) carry no data.
        kept = [
            (int(size), axis)
            for size, axis in zip(series.shape, series.axes, strict=True)
            if size != 1 or axis in "YX"
        ]
        shape = tuple(size for size, _ in kept)
        axes = "".join(axis for _, axis in kept)
        if len(shape) == 2:
            shape = (1, *shape)
        dtype = np.dtype(series.dtype).newbyteorder("=")
        validate_volume_shape(self.name, shape, dtype)
        if "S" in axes or "C" in axes:
            raise VemRestoreError(
                f"{self.name}: has colour samples or channels (axes {series.axes}, shape "
                f"{tuple(series.shape)}); convert it to a single-channel greyscale stack"
            )
        self.spec = VolumeSpec(shape, dtype, read_voxel_size(self._tif))
        self._check_complete()
        if series.dataoffset is not None:
            self._file_dtype = np.dtype(series.dtype).newbyteorder(self._tif.byteorder)
            expected_end = series.dataoffset + self.spec.nbytes
            if self.path.stat().st_size < expected_end:
                raise VemRestoreError(
                    f"{self.name}: the file is truncated or corrupt (pixel data end at byte "
                    f"{expected_end}, the file has {self.path.stat().st_size})"
                )
            return int(series.dataoffset)
        if len(series.pages) != shape[0]:
            raise VemRestoreError(
                f"{self.name}: unsupported TIFF layout ({len(series.pages)} pages hold "
                f"{shape[0]} slices); save it as one page per slice"
            )
        self._check_decoded_size(series.pages[0])
        return None

    def _check_decoded_size(self, page: Any) -> None:
        """Refuse a compressed page whose header claims far more pixels than its bytes hold.

        A few hundred bytes can claim a 100000 × 100000 slice; decoding it would allocate
        tens of GiB before failing. Real EM slices compress by far less than the limit.
        """
        stored = sum(int(count) for count in getattr(page, "databytecounts", ()) or ())
        decoded = self.spec.shape[1] * self.spec.shape[2] * self.spec.dtype.itemsize
        if decoded > SMALL_SLICE_BYTES and decoded > MAX_DECODE_RATIO * max(stored, 1):
            raise VemRestoreError(
                f"{self.name}: a slice claims {decoded / 2**20:.0f} MiB of pixels stored in "
                f"{stored} bytes, over vemrestore's limit of {MAX_DECODE_RATIO}:1 compression; "
                "the file is corrupt or hostile (re-save it uncompressed if it is real)"
            )

    def _check_complete(self) -> None:
        """Refuse a file whose metadata announces more slices than tifffile could find.

        tifffile recovers from a broken page chain with a warning and a smaller series, which
        would otherwise silently restore only part of the volume.
        """
        declared: int | None = None
        imagej = self._tif.imagej_metadata
        shaped = self._tif.shaped_metadata
        if imagej and "images" in imagej:
            declared = int(imagej["images"])
        elif shaped and "shape" in shaped[0]:
            # Element count, not leading axes: a stored shape may carry extra length-1 axes.
            declared = int(np.prod(shaped[0]["shape"])) // (self.shape[1] * self.shape[2])
        if declared is not None and declared != self.shape[0]:
            raise VemRestoreError(
                f"{self.name}: the file is truncated or corrupt (its metadata announces "
                f"{declared} slices, but {self.shape[0]} were found)"
            )

    def _read(self, z: slice, y: slice, x: slice) -> np.ndarray:
        start, stop, _ = z.indices(self.shape[0])
        if self._data_offset is not None:
            return self._read_mapped(start, stop, y, x)
        if stop <= start:
            return np.empty((0, *self.shape[1:]), self.dtype)[:, y, x]
        try:
            pages = self._tif.asarray(key=range(start, stop), series=0)
        except Exception as error:
            raise VemRestoreError(
                f"{self.name}: cannot decode slices {start}-{stop - 1}, the file may be "
                f"truncated or corrupt ({error_reason(error)})"
            ) from None
        pages = pages.reshape(stop - start, *self.shape[1:])
        return np.asarray(pages[:, y, x], dtype=self.dtype)

    def _read_mapped(self, start: int, stop: int, y: slice, x: slice) -> np.ndarray:
        """Map only slices start..stop-1 and copy the region out.

        A map that lives as long as the reader would keep every page it ever touched counted
        in the process's resident memory; mapping per read keeps that bounded by one read.
        """
        if stop <= start:
            return np.empty((0, *self.shape[1:]), self.dtype)[:, y, x]
        slice_bytes = self.shape[1] * self.shape[2] * self._file_dtype.itemsize
        mapped = np.memmap(
            self.path,
            dtype=self._file_dtype,
            mode="r",
            offset=self._data_offset + start * slice_bytes,
            shape=(stop - start, *self.shape[1:]),
        )
        try:
            return np.array(mapped[:, y, x], dtype=self.dtype)
        finally:
            mapped._mmap.close()

    def close(self) -> None:
        self._tif.close()
