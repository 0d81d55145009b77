"""What every export format shares: the test tile, the eager-vs-export check, the embedded
description, and a clear error when an optional exporter library is missing.

An export proves itself before it is written: each format runs the stored test tile (and a
second tile of another batch size and shape, to catch sizes baked in at export time) and must
match the eager model within ``TOLERANCE``, in normalised (0..1) intensity units.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import torch

from vemrestore.config import NormalizationConfig
from vemrestore.config.restoration import RestorationSpec
from vemrestore.data.normalization import Normalizer, dtype_range
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.checkpoint import Checkpoint
from vemrestore.version import __version__

logger = logging.getLogger(__name__)

EXPORT_EXTRA_HINT = 'install the export extra: pip install "vemrestore[export]"'
DESCRIPTION_KEY = "vemrestore.json"
DESCRIPTION_FORMAT = "vemrestore-export"
TOLERANCE = 1e-4
TEST_TILE_SIZE = 64
SUPPORTED_DTYPES = ("uint8", "uint16", "float32")


def require_module(name: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say which pip extra provides it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise VemRestoreError(
            f"{purpose} needs the Python package {name!r}; {EXPORT_EXTRA_HINT}"
        ) from None


def size_multiple(model: torch.nn.Module) -> int:
    """Spatial sizes (Y, X) the network handles without internal padding: multiples of this."""
    return int(getattr(model, "size_multiple", 1))


def model_window(model: torch.nn.Module) -> int:
    return int(getattr(model, "window", 1))


def make_test_tile(window: int, size: int, dtype: str) -> np.ndarray:
    """A seeded, EM-like raw tile: (window, size, size) of ``dtype``.

    Smooth membranes-and-blobs structure plus Gaussian noise, spanning ~15..85% of the dtype
    range, so normalisation, network and inverse are all exercised; same bytes every call.
    """
    generator = np.random.default_rng(20240808)
    z, y, x = np.meshgrid(
        np.arange(window), np.arange(size), np.arange(size), indexing="ij", sparse=True
    )
    structure = (
        np.sin(x / 5.0 + z / 3.0) * np.cos(y / 7.0)
        + 0.5 * np.sin((x + 2 * y) / 11.0 - z / 4.0)
        + generator.normal(0.0, 0.35, (window, size, size))
    )
    unit = 0.15 + 0.7 * (structure - structure.min()) / (structure.max() - structure.min())
    low, high = dtype_range(np.dtype(dtype))
    values = low + unit * (high - low)
    if np.dtype(dtype).kind in "ui":
        values = np.rint(values)
    return values.astype(dtype)


def tile_normalizer(normalization: NormalizationConfig, tile: np.ndarray) -> Normalizer:
    """The ``Normalizer`` inference would fit, fitted to the tile alone (it is the volume)."""
    if normalization.mode == "dtype":
        return Normalizer(*dtype_range(tile.dtype))
    low, high = np.percentile(
        tile.astype(np.float64), [normalization.low_percentile, normalization.high_percentile]
    )
    return Normalizer(float(low), float(high if high > low else low + 1.0))


def check_inputs(normalized_tile: np.ndarray, multiple: int) -> list[np.ndarray]:
    """The test tile as a batch of one, plus a batch of two of a smaller, other-shaped crop.

    The crop keeps Y and X multiples of ``multiple`` (what the exports promise to accept).
    """
    window, height, width = normalized_tile.shape
    crop_h = max(multiple, (height // 2 // multiple) * multiple)
    crop_w = max(multiple, ((3 * width) // 4 // multiple) * multiple)
    crop = normalized_tile[:, :crop_h, :crop_w]
    second = np.stack([crop, crop[:, ::-1, ::-1]])
    return [normalized_tile[None].copy(), np.ascontiguousarray(second)]


def eager_output(model: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.eval()(torch.from_numpy(batch)).numpy()


def check_against_eager(
    label: str,
    model: torch.nn.Module,
    exported: Callable[[np.ndarray], np.ndarray],
    batches: Sequence[np.ndarray],
) -> float:
    """Max |exported - eager| over ``batches``; refuse the export if it exceeds ``TOLERANCE``."""
    worst = 0.0
    for batch in batches:
        reference = eager_output(model, batch)
        result = np.asarray(exported(batch))
        if result.shape != reference.shape:
            raise VemRestoreError(
                f"{label}: export returned shape {result.shape} for input {batch.shape} "
                f"(eager: {reference.shape}); not written"
            )
        worst = max(worst, float(np.max(np.abs(result.astype(np.float64) - reference))))
    if not worst <= TOLERANCE:
        raise VemRestoreError(
            f"{label}: export differs from the eager model by {worst:.3g} (max, normalised "
            f"units; tolerance {TOLERANCE:g}) on the test tile; not written"
        )
    logger.info("%s: max difference to eager on the test tile %.3g", label, worst)
    return worst


def describe(checkpoint: Checkpoint) -> dict[str, Any]:
    """What a loader needs to use an export like a checkpoint: window, sizes, normalisation.

    Embedded in TorchScript (extra file) and ONNX (metadata) exports as JSON.
    """
    model = checkpoint.model
    return {
        "format": DESCRIPTION_FORMAT,
        "vemrestore_version": __version__,
        "model_name": getattr(model, "model_name", type(model).__name__),
        "model_params": getattr(model, "model_params", {}),
        "window": model_window(model),
        "accepts_any_window": bool(getattr(model, "accepts_any_window", False)),
        "size_multiple": size_multiple(model),
        "normalization": checkpoint.normalization.model_dump(),
        "metadata": checkpoint.metadata,
        "restoration": checkpoint.restoration.model_dump(mode="json"),
    }


def described_checkpoint(
    network: Callable[[], torch.nn.Module], description: dict[str, Any], source: str
) -> Checkpoint:
    """``network()`` with the normalisation and metadata of ``description``; a description
    with missing keys or wrong types is refused as damaged."""
    try:
        model = network()
        normalization = NormalizationConfig(**description["normalization"])
        metadata = dict(description.get("metadata", {}))
        recorded = description.get("restoration")  # absent from exports older than the record
        restoration = None if recorded is None else RestorationSpec(**recorded)
    except (KeyError, TypeError, ValueError) as error:
        raise VemRestoreError(
            f"{source}: damaged vemrestore description ({type(error).__name__}: {error})"
        ) from None
    return Checkpoint(model.eval(), normalization, metadata, recorded=restoration)


def parse_description(text: str | bytes, source: str) -> dict[str, Any]:
    """Inverse of ``describe``; refuse exports that vemrestore did not write."""
    try:
        description = json.loads(text)
    except ValueError:
        description = None
    if not isinstance(description, dict) or description.get("format") != DESCRIPTION_FORMAT:
        raise VemRestoreError(f"{source}: not a vemrestore export (no vemrestore description)")
    return description
