"""A volume file as a lazy dask array: slices are read when something (a viewer) asks for them."""

from __future__ import annotations

import dask.array as da
import numpy as np

from vemrestore.io.base import VolumeReader


class _Regions:
    """The reader as the array-like ``dask.array.from_array`` wants (shape, dtype, indexing)."""

    def __init__(self, reader: VolumeReader) -> None:
        self.reader = reader
        self.shape = reader.shape
        self.dtype = reader.dtype
        self.ndim = 3

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        return self.reader.read(*key)


def lazy_array(reader: VolumeReader, slices_per_chunk: int = 1) -> da.Array:
    """(Z, Y, X) dask array over ``reader``, chunked by whole slices; the reader stays open."""
    chunks = (slices_per_chunk, *reader.shape[1:])
    return da.from_array(_Regions(reader), chunks=chunks, lock=True, asarray=True, fancy=False)
