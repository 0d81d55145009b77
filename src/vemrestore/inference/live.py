"""Live restoration: restore slices while the microscope is still writing the stack.

Each time slices arrive, the engine restores the slices that have become final: those whose
tiles and blending weights no longer depend on how long the stack will be
(``geometry.settled_prefix``). It restores them as a ``region`` of the tile grid of the
slices present so far, which has the same tiles, inputs, weights and summation order there as
the grid of the finished stack: the numbers are those of restoring the finished stack in one
run, bit for bit. The last slices (within about one tile depth of the end, reflect-padded
there) wait until the acquisition has ended.

Nothing is carried between rounds except the count of slices stored, so a rerun after a
crash simply continues from the output's count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vemrestore.data.normalization import Normalizer
from vemrestore.geometry import TileGrid, settled_prefix
from vemrestore.inference.engine import BatchPredictor, restore_slices
from vemrestore.io.arrivals import SliceArrivals
from vemrestore.io.base import VolumeReader
from vemrestore.io.growing import GrowingOutput

logger = logging.getLogger(__name__)

SliceCallback = Callable[[int, np.ndarray], None]
"""Called with (z, restored (Y, X) slice) once the slice is stored."""


@dataclass(frozen=True)
class LiveEngine:
    """How to restore: the network, its normalisation and the tile grid for a given stack."""

    predict: BatchPredictor
    normalizer: Normalizer
    plan: Callable[[VolumeReader], TileGrid]
    batch_size: int
    output_dtype: np.dtype


@dataclass
class AcquisitionEnd:
    """When the acquisition counts as ended: a callable asked each round, or idleness.

    After the end, files still being written are waited for until the first of them has stayed
    unchanged yet unreadable for ``settle_grace_seconds``.
    """

    ended: Callable[[], bool]
    idle_seconds: float | None = None
    settle_grace_seconds: float = 5.0


@dataclass
class LiveRun:
    """What a live run did: slices stored (``resumed_from`` of them by an earlier run)."""

    slices: int = 0
    resumed_from: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds from each slice's acceptance as arrived to its restored slice being stored."""
    not_arrived: list[str] = field(default_factory=list)
    """Files still incomplete when the acquisition ended; they are not in the output."""


def follow_acquisition(
    arrivals: SliceArrivals,
    start: Callable[[SliceArrivals], tuple[GrowingOutput, LiveEngine]],
    end: AcquisitionEnd,
    poll_seconds: float = 0.2,
    on_slice: SliceCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LiveRun:
    """Restore slices as they arrive until ``end`` says the acquisition is over, then the rest.

    ``start`` opens the output and sets up the engine once the first slice has arrived (its
    shape and dtype fix theirs). The output is marked finished only after its last slice is
    stored; ``run.slices`` stays 0 when no slice arrived at all.
    """
    output: GrowingOutput | None = None
    engine: LiveEngine | None = None
    run = LiveRun()
    accepted_at: dict[int, float] = {}
    last_arrival = clock()
    ended_at: float | None = None
    while True:
        before = len(arrivals.files)
        available = arrivals.poll()
        now = clock()
        for z in range(before, available):
            accepted_at[z] = now
        if available > before:
            last_arrival = now
        if ended_at is None and (
            end.ended() or (end.idle_seconds is not None and now - last_arrival >= end.idle_seconds)
        ):
            ended_at = now
        stalled = arrivals.stalled_seconds() if ended_at is not None else None
        finished = ended_at is not None and (stalled is None or stalled >= end.settle_grace_seconds)
        if available and output is None:
            output, engine = start(arrivals)
            run.resumed_from = output.written
        if output is not None and engine is not None:
            depth = engine.plan(arrivals.reader()).z
            target = available if finished else settled_prefix(depth.tile, depth.overlap, available)
            _restore_range(arrivals, output, engine, target, accepted_at, run, on_slice, clock)
        if finished:
            run.not_arrived = [str(path) for path in arrivals.waiting()]
            break
        time.sleep(poll_seconds)
    if output is not None:
        output.finish()
        run.slices = output.written
    return run


def _restore_range(
    arrivals: SliceArrivals,
    output: GrowingOutput,
    engine: LiveEngine,
    stop: int,
    accepted_at: dict[int, float],
    run: LiveRun,
    on_slice: SliceCallback | None,
    clock: Callable[[], float],
) -> None:
    """Restore and store slices ``output.written .. stop - 1`` of the stack arrived so far."""
    start = output.written
    if stop <= start:
        return
    reader = arrivals.reader()
    region = (slice(start, stop), slice(0, reader.shape[1]), slice(0, reader.shape[2]))
    slices = restore_slices(
        reader,
        engine.predict,
        engine.normalizer,
        engine.plan(reader),
        engine.batch_size,
        engine.output_dtype,
        region=region,
    )
    for z, image in enumerate(slices, start=start):
        output.append(image)
        if z in accepted_at:
            run.latencies.append(clock() - accepted_at[z])
        logger.info("restored slice %d", z)
        if on_slice is not None:
            on_slice(z, image)
