"""Sub-lattice inference of self-supervised (checkerboard) models.

A checkerboard model is trained on 2×2 sub-lattices, i.e. at half the pixel density of the
volume. It can be applied in two ways:

- ``full``: the network runs on the full-resolution volume (plain ``vemrestore.restore``).
  Structures look twice as large in pixels as in training, but every output pixel sees all
  input pixels around it.
- ``sublattice``: each of the four sub-lattices (y parity, x parity) is restored at half
  resolution, the scale it was trained on, and the four results are re-interleaved::

      input        lattices         restored        output
      a b a b      a a   b b        A A   B B       A B A B
      c d c d  ->  a a   b b   ->   A A   B B  ->   C D C D
      a b a b      c c   d d        C C   D D       A B A B
      c d c d      c c   d d        C C   D D       C D C D

  Odd sizes work: lattice (py, px) has ceil((Y - py) / 2) × ceil((X - px) / 2) pixels.

Which one a trained model uses by default is stored in its config (``self_supervised.
inference``, default ``full``), and ``vemrestore denoise`` follows it unless told
``--sublattice``/``--full``. ``full`` is the default because it measured better: on ISBI with
simulated noise 20.8 dB / SSIM 0.69 against 19.9 dB / 0.60 for ``sublattice`` (same model;
benchmarks/RESULTS.md, "Self-supervised (issue 5)"): a half-resolution lattice holds a
quarter of the pixels, and the network restores it without the other three.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vemrestore.api import ModelSource, restore
from vemrestore.checkpoint import as_checkpoint
from vemrestore.config import InferenceConfig
from vemrestore.io import VoxelSize, check_output, open_volume, write_volume

PathLike = str | os.PathLike[str]

LATTICES = ((0, 0), (0, 1), (1, 0), (1, 1))


def restore_sublattices(
    volume: np.ndarray,
    model: ModelSource,
    config: InferenceConfig | None = None,
    *,
    trust_code: bool = False,
) -> np.ndarray:
    """Restore a (Z, Y, X) or (Y, X) array lattice by lattice; returns its shape and dtype
    (float32 if ``config.output_dtype`` says so)."""
    volume = np.asarray(volume)
    model = as_checkpoint(model, trust_code=trust_code)  # loaded once for the four lattices
    output = None
    for y_parity, x_parity in LATTICES:
        restored = restore(volume[..., y_parity::2, x_parity::2], model, config)
        if output is None:
            output = np.empty(volume.shape, dtype=restored.dtype)
        output[..., y_parity::2, x_parity::2] = restored
    return output


def restore_sublattices_file(
    input_path: PathLike,
    output_path: PathLike,
    model: ModelSource,
    config: InferenceConfig | None = None,
    overwrite: bool = False,
    array: str | None = None,
    slice_suffix: str = ".tif",
    *,
    trust_code: bool = False,
    voxel_size: VoxelSize | None = None,
) -> Path:
    """``restore_sublattices`` for a volume file into ``output_path`` (format by its name).

    The whole volume is held in memory (each lattice is restored over all slices); the
    output appears only when complete.
    """
    output_path = Path(output_path)
    inputs = (Path(input_path),)
    check_output(output_path, overwrite, inputs=inputs)
    config = config or InferenceConfig()
    checkpoint = as_checkpoint(model, trust_code=trust_code)
    with open_volume(input_path, array=array) as reader:
        volume = reader.read(slice(None))
        spec = reader.spec.restored_as(config.resolved_dtype(reader.dtype), voxel_size=voxel_size)

    def slices() -> Iterator[np.ndarray]:  # runs once the writer has checked the output path
        yield from restore_sublattices(volume, checkpoint, config)

    return write_volume(
        output_path, slices(), spec, overwrite=overwrite, slice_suffix=slice_suffix, inputs=inputs
    )


def trained_inference_mode(model: ModelSource, *, trust_code: bool = False) -> str | None:
    """``full`` or ``sublattice`` for a self-supervised model, None for other training."""
    checkpoint = as_checkpoint(model, trust_code=trust_code)
    if checkpoint.metadata.get("task") != "self_supervised":
        return None
    settings = checkpoint.metadata.get("config", {}).get("self_supervised") or {}
    return str(settings.get("inference", "full"))
