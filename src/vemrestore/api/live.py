"""Live restoration while the microscope acquires: the entry point behind ``vemrestore watch``
and the napari plugin's Live mode. It wires the arrival watcher (``io.arrivals``), the growing
output (``io.growing``) and the engine's live loop (``inference.live``); no maths here."""

from __future__ import annotations

import threading
from pathlib import Path

from vemrestore.config import InferenceConfig, LiveConfig
from vemrestore.data.normalization import fit_normalizer
from vemrestore.errors import VemRestoreError
from vemrestore.inference import Predictor
from vemrestore.inference.blocks import model_digest
from vemrestore.inference.live import (
    AcquisitionEnd,
    LiveEngine,
    LiveRun,
    SliceCallback,
    follow_acquisition,
)
from vemrestore.inference.plan import plan_restoration, tile_grid
from vemrestore.io.arrivals import SliceArrivals, SliceFormat
from vemrestore.io.growing import GrowingOutput, open_growing_output
from vemrestore.model_io.checkpoint import Checkpoint
from vemrestore.model_io.files import ModelSource, as_checkpoint
from vemrestore.types import PathLike


def watch(
    input_dir: PathLike,
    output_path: PathLike,
    model: ModelSource,
    *,
    config: InferenceConfig | None = None,
    live: LiveConfig | None = None,
    overwrite: bool = False,
    slice_suffix: str = ".tif",
    stop: threading.Event | None = None,
    on_slice: SliceCallback | None = None,
) -> LiveRun:
    """Restore the slices a microscope writes into ``input_dir`` while it writes them.

    Each slice is restored as soon as the slices around it have arrived, with the numbers
    ``restore_file`` gives for the finished stack. ``output_path`` is a ``.zarr`` store that
    grows along z or a slice folder; it is readable while it grows and marked finished at
    the end. The acquisition ends when ``live.done_file`` appears in ``input_dir``, after
    ``live.until_idle`` seconds without a new slice, or when ``stop`` is set; the last slices
    are restored then. After a crash the same call resumes where the output stopped.
    ``on_slice(z, slice)`` is called after each restored slice is stored.
    """
    input_dir, output_path = Path(input_dir), Path(output_path)
    if output_path.absolute() == input_dir.absolute():
        raise VemRestoreError(f"{output_path}: the output must not be the input folder")
    config, live = config or InferenceConfig(), live or LiveConfig()
    checkpoint = as_checkpoint(model, None)
    _check_live_restorable(checkpoint)
    arrivals = SliceArrivals(input_dir, live.settle_seconds)
    done_file = input_dir / live.done_file if live.done_file else None

    def start(arrived: SliceArrivals) -> tuple[GrowingOutput, LiveEngine]:
        reader = arrived.reader()
        predictor = Predictor.from_config(checkpoint.model, config)
        restoration = checkpoint.restoration
        tile = tile_grid(reader.shape, restoration, config).tile
        engine = LiveEngine(
            predict=predictor,
            normalizer=fit_normalizer(restoration.normalization, reader),
            plan=lambda stack: tile_grid(stack.shape, restoration, config),
            batch_size=predictor.batch_size(config.batch_size, tile),
            output_dtype=config.resolved_dtype(reader.dtype),
        )
        settings = {
            "model_digest": model_digest(checkpoint.model),
            "normalizer": [engine.normalizer.low, engine.normalizer.high],
            "inference": config.model_dump(mode="json"),
            "input_dtype": str(reader.dtype),
        }
        output_format = SliceFormat(
            arrived.format.shape, engine.output_dtype, arrived.format.voxel_size
        )
        output = open_growing_output(
            output_path, output_format, settings, overwrite=overwrite, slice_suffix=slice_suffix
        )
        return output, engine

    end = AcquisitionEnd(
        ended=lambda: (
            (stop is not None and stop.is_set()) or (done_file is not None and done_file.exists())
        ),
        idle_seconds=live.until_idle,
        settle_grace_seconds=max(2.0, 4 * live.settle_seconds),
    )
    run = follow_acquisition(arrivals, start, end, live.poll_seconds, on_slice)
    if run.slices == 0:
        raise VemRestoreError(f"{input_dir}: no slices arrived (.tif/.tiff/.png files)")
    return run


def _check_live_restorable(checkpoint: Checkpoint) -> None:
    """Refuse models whose restoration needs the whole stack (so live results would differ)."""
    mode = plan_restoration(checkpoint.restoration).mode
    if mode == "key_slices":
        reason = "it restores key-slice acquisitions"
    elif mode == "sublattice":
        reason = "it restores sub-lattices"
    elif checkpoint.restoration.normalization.mode != "dtype":
        reason = "its percentile normalisation is fitted to the whole stack"
    else:
        return
    raise VemRestoreError(
        f"this model cannot restore slices live: {reason}; restore the finished stack with "
        "vemrestore denoise"
    )
