"""Exported models back into a ``Checkpoint``: bioimage.io packages, TorchScript and ONNX files.

A bioimage.io package (``.zip``, or the ``rdf.yaml``/``bioimageio.yaml`` of an unpacked one)
is read with the standard library and PyYAML, so no bioimage.io library is needed to use it:

- the attached native checkpoint (``vemrestore_checkpoint.pt``), if present, is loaded with
  ``load_checkpoint``: exact normalisation and metadata, weights-only unpickling;
- otherwise the TorchScript weights are wrapped as a model whose ``window`` is the fixed size
  of the input's z (or channel) axis, and the normalisation is read back from the
  preprocessing (``scale_linear`` of the dtype range → dtype mode, ``scale_range`` →
  percentile mode). Anything else cannot be reproduced by vemrestore and is refused.

TorchScript (like pickle) runs code from the file: load packages only from people you trust.
"""

from __future__ import annotations

import math
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vemrestore.checkpoint import Checkpoint, load_checkpoint
from vemrestore.config import NormalizationConfig
from vemrestore.data.normalization import dtype_range
from vemrestore.errors import VemRestoreError
from vemrestore.export.bioimageio import NATIVE_CHECKPOINT_NAME
from vemrestore.export.onnx import load_onnx
from vemrestore.export.torchscript import ScriptedNetwork, load_scripted, load_torchscript

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")


def is_exported_model(path: Path) -> bool:
    """Whether ``path`` names an export this module loads (decided by name, not content)."""
    name = path.name.lower()
    return (
        name.endswith((".zip", ".onnx", ".torchscript.pt"))
        or name in RDF_NAMES
        or name.endswith(".bioimageio.yaml")
    )


def load_exported_model(path: Path) -> Checkpoint:
    """Load a bioimage.io package, or a vemrestore TorchScript or ONNX export."""
    name = path.name.lower()
    if not path.is_file():
        raise VemRestoreError(f"{path}: model file not found")
    if name.endswith(".onnx"):
        return load_onnx(path)
    if name.endswith(".torchscript.pt"):
        return load_torchscript(path)
    return load_bioimageio_package(path)


def load_bioimageio_package(path: Path) -> Checkpoint:
    """A bioimage.io model package (zip or rdf.yaml) → ``Checkpoint`` (see module docstring)."""
    with tempfile.TemporaryDirectory(prefix="vemrestore-package-") as folder:
        if path.suffix.lower() == ".zip":
            root = Path(folder)
            _unpack_rdf_and_payload(path, root)
            rdf_path = next((root / n for n in RDF_NAMES if (root / n).is_file()), None)
            if rdf_path is None:
                raise VemRestoreError(f"{path}: not a bioimage.io package (no rdf.yaml inside)")
        else:
            rdf_path = path
        return _load_rdf(rdf_path, label=str(path))


def _unpack_rdf_and_payload(path: Path, root: Path) -> None:
    """Extract the description, the native checkpoint and TorchScript weights (nothing else)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            rdf_name = next((n for n in RDF_NAMES if n in names), None)
            if rdf_name is None:
                return
            rdf = _parse_yaml(archive.read(rdf_name), str(path))
            wanted = {rdf_name, *_local_sources(rdf)}
            for member in sorted(wanted & names):
                archive.extract(member, root)
    except zipfile.BadZipFile:
        raise VemRestoreError(f"{path}: not a bioimage.io package (not a zip file)") from None


def _parse_yaml(text: bytes | str, label: str) -> dict[str, Any]:
    try:
        rdf = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise VemRestoreError(f"{label}: unreadable bioimage.io description ({error})") from None
    if not isinstance(rdf, dict) or rdf.get("type") != "model":
        raise VemRestoreError(f"{label}: not a bioimage.io model description")
    if not str(rdf.get("format_version", "")).startswith("0.5"):
        raise VemRestoreError(
            f"{label}: bioimage.io model format {rdf.get('format_version')}; vemrestore reads "
            "0.5.x (convert it with bioimageio.spec's update_format)"
        )
    return rdf


def _local_sources(rdf: dict[str, Any]) -> list[str]:
    """Package-relative file names of the native checkpoint and TorchScript weights."""
    sources = [str(a.get("source", "")) for a in rdf.get("attachments") or []]
    torchscript = (rdf.get("weights") or {}).get("torchscript") or {}
    sources.append(str(torchscript.get("source", "")))
    return [s for s in sources if s and "://" not in s and not Path(s).is_absolute()]


def _load_rdf(rdf_path: Path, label: str) -> Checkpoint:
    rdf = _parse_yaml(rdf_path.read_bytes(), label)
    root = rdf_path.parent
    for source in _local_sources(rdf):
        if Path(source).name == NATIVE_CHECKPOINT_NAME and (root / source).is_file():
            return load_checkpoint(root / source)
    torchscript = (rdf.get("weights") or {}).get("torchscript") or {}
    weights = root / str(torchscript.get("source", ""))
    if not torchscript or not weights.is_file():
        raise VemRestoreError(
            f"{label}: no vemrestore checkpoint and no local TorchScript weights to load"
        )
    inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise VemRestoreError(f"{label}: vemrestore runs models with one input and one output")
    window = _window(inputs[0].get("axes") or [], label)
    network = ScriptedNetwork(load_scripted(weights), window, False, f"bioimageio:{rdf['name']}")
    normalization = _normalization(inputs[0], label)
    return Checkpoint(network.eval(), normalization, {"source": label, "name": rdf.get("name")})


def _window(axes: list[dict[str, Any]], label: str) -> int:
    """(batch, z-or-channel of fixed size, y, x) → that fixed size; other layouts are refused."""
    layout = [(a.get("type"), str(a.get("id", a.get("type")))) for a in axes]
    if (
        len(layout) != 4
        or layout[0][0] != "batch"
        or layout[1][0] not in ("space", "channel")
        or layout[2:] != [("space", "y"), ("space", "x")]
    ):
        raise VemRestoreError(
            f"{label}: input axes {[axis_id for _, axis_id in layout]}; vemrestore needs "
            "(batch, z or channel, y, x)"
        )
    size = axes[1].get("size")
    if layout[1][0] == "channel":
        size = len(axes[1].get("channel_names") or []) or size
    if not isinstance(size, int) or size < 1:
        raise VemRestoreError(f"{label}: the {layout[1][1]} axis needs a fixed size (the window)")
    return size


def _normalization(tensor: dict[str, Any], label: str) -> NormalizationConfig:
    """The ``NormalizationConfig`` equal to the input's preprocessing, or a clear refusal."""
    steps = [s for s in tensor.get("preprocessing") or [] if s.get("id") != "ensure_dtype"]
    dtype = np.dtype(str((tensor.get("data") or {}).get("type", "float32")))
    low, high = dtype_range(dtype)
    if not steps and (low, high) == (0.0, 1.0):
        return NormalizationConfig(mode="dtype")
    if len(steps) == 1 and steps[0].get("id") == "scale_range":
        kwargs = steps[0].get("kwargs") or {}
        return NormalizationConfig(
            mode="percentile",
            low_percentile=float(kwargs.get("min_percentile", 0.0)),
            high_percentile=float(kwargs.get("max_percentile", 100.0)),
        )
    if len(steps) == 1 and steps[0].get("id") == "scale_linear":
        kwargs = steps[0].get("kwargs") or {}
        gain, offset = float(kwargs.get("gain", 1.0)), float(kwargs.get("offset", 0.0))
        if math.isclose(gain * (high - low), 1.0, rel_tol=1e-6) and math.isclose(
            offset, -low * gain, abs_tol=1e-9
        ):
            return NormalizationConfig(mode="dtype")
    described = [s.get("id") for s in steps] or ["none"]
    raise VemRestoreError(
        f"{label}: preprocessing {described} for {dtype} input has no vemrestore equivalent "
        "(supported: scale_linear over the dtype range, or scale_range)"
    )
