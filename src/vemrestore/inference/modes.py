"""Run a ``RestorationPlan`` over a volume: the full and sub-lattice modes, and the dispatch.

Sub-lattice restoration of self-supervised (checkerboard) models: such a model is trained
on 2×2 sub-lattices, i.e. at half the pixel density of the volume. Each of the four
sub-lattices (y parity, x parity) is restored at half resolution, the scale it was trained
on, and the four results are re-interleaved::

      input        lattices         restored        output
      a b a b      a a   b b        A A   B B       A B A B
      c d c d  ->  a a   b b   ->   A A   B B  ->   C D C D
      a b a b      c c   d d        C C   D D       A B A B
      c d c d      c c   d d        C C   D D       C D C D

Odd sizes work: lattice (py, px) has ceil((Y - py) / 2) × ceil((X - px) / 2) pixels.
``full`` is the default mode of a trained model because it measured better: on ISBI with
simulated noise 20.8 dB / SSIM 0.69 against 19.9 dB / 0.60 for ``sublattice`` (same model;
benchmarks/RESULTS.md, "Self-supervised (issue 5)"): a half-resolution lattice holds a
quarter of the pixels, and the network restores it without the other three.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from vemrestore.config import InferenceConfig
from vemrestore.data.normalization import (
    fit_normalizer,
    intensity_spread,
    sample_intensities,
    spread_mismatch,
)
from vemrestore.inference.engine import gather_slices, restore_slices
from vemrestore.inference.key_slices import restore_key_slice_stream
from vemrestore.inference.plan import RestorationPlan, tile_grid
from vemrestore.inference.predictor import Predictor
from vemrestore.io import ArrayReader, VolumeReader
from vemrestore.model_io.checkpoint import Checkpoint

logger = logging.getLogger(__name__)

LATTICES = ((0, 0), (0, 1), (1, 0), (1, 1))


def restore_planned(
    plan: RestorationPlan,
    reader: VolumeReader,
    checkpoint: Checkpoint,
    config: InferenceConfig,
    *,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """The restored slices of ``reader`` in z order, as ``plan`` says (not ``blocks``, which
    runs on Dask: ``vemrestore.api.restore_blocks``)."""
    if plan.mode == "full":
        return restore_full(reader, checkpoint, config, progress=progress)
    if plan.mode == "sublattice":
        return restore_sublattices(reader, checkpoint, config)
    if plan.mode == "key_slices":
        assert plan.key_period is not None, "a key-slice plan has a period"
        return restore_key_slice_stream(
            reader, checkpoint, plan.key_period, plan.key_offset, config, progress
        )
    raise ValueError(f"restore_planned runs one process; {plan.mode!r} runs on Dask")


def restore_full(
    reader: VolumeReader,
    checkpoint: Checkpoint,
    config: InferenceConfig,
    *,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """The volume restored as it is, tile by tile, one slice at a time in z order.

    Warns when the input's intensity spread differs from the training inputs' (a sign of a
    wrong normalisation or a different detector setting).
    """
    restoration = checkpoint.restoration
    grid = tile_grid(reader.shape, restoration, config)
    normalizer = fit_normalizer(restoration.normalization, reader)
    if restoration.input_spread is not None:
        found = intensity_spread(normalizer.normalize(sample_intensities(reader)))
        mismatch = spread_mismatch(restoration.input_spread, found)
        if mismatch is not None:
            logger.warning("%s: %s", reader.name, mismatch)
    predictor = Predictor.from_config(checkpoint.model, config)
    return restore_slices(
        reader,
        predictor,
        normalizer,
        grid,
        predictor.batch_size(config.batch_size, grid.tile),
        config.resolved_dtype(reader.dtype),
        progress,
    )


def restore_sublattices(
    reader: VolumeReader, checkpoint: Checkpoint, config: InferenceConfig
) -> Iterator[np.ndarray]:
    """The volume restored lattice by lattice (see the module docstring).

    The whole volume is held in memory: each lattice is restored over all slices.
    """
    volume = reader.read(slice(None))
    output = None
    for y_parity, x_parity in LATTICES:
        lattice = ArrayReader(np.ascontiguousarray(volume[:, y_parity::2, x_parity::2]))
        restored = gather_slices(restore_full(lattice, checkpoint, config), lattice.shape[0])
        if output is None:
            output = np.empty(volume.shape, dtype=restored.dtype)
        output[:, y_parity::2, x_parity::2] = restored
    assert output is not None, "four lattices were restored"
    yield from output
