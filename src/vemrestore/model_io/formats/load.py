"""Exported models back into a ``Checkpoint``: bioimage.io packages, TorchScript and ONNX files.

A bioimage.io package (``.zip``, or the ``rdf.yaml``/``bioimageio.yaml`` of an unpacked one)
is read with the standard library and PyYAML, so no bioimage.io library is needed to use it:

- the attached native checkpoint (``vemrestore_checkpoint.pt``), if present, is loaded with
  ``load_native_checkpoint``: exact normalisation and metadata, weights-only unpickling;
- otherwise the ONNX weights, run by ONNX Runtime (a graph of operators, no Python code; its
  check that external data stays inside the package folder is kept);
- otherwise, and only with ``trust_code=True``, the TorchScript weights. A TorchScript file is
  a program: loading it runs code it carries (``__setstate__``), which can write any file the
  user can write, so it is refused unless the user says they trust the file's author.

ONNX and TorchScript weights are wrapped as a model whose ``window`` is the fixed size of the
input's z (or channel) axis, and the normalisation is read back from the preprocessing
(``scale_linear`` of the dtype range → dtype mode, ``scale_range`` → percentile mode).
Anything else cannot be reproduced by vemrestore and is refused.

A package is untrusted input: only the description and the one weights file used are
extracted, each after its declared uncompressed size is checked against a cap
(``MAX_RDF_BYTES``, ``MAX_WEIGHTS_BYTES``), so a zip bomb is refused before it is unpacked.
"""

from __future__ import annotations

import math
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from torch import nn

from vemrestore.config import NormalizationConfig
from vemrestore.data.normalization import dtype_range
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.checkpoint import Checkpoint, load_native_checkpoint
from vemrestore.model_io.formats.bioimageio import NATIVE_CHECKPOINT_NAME
from vemrestore.model_io.formats.onnx import OnnxNetwork, load_onnx
from vemrestore.model_io.formats.torchscript import ScriptedNetwork, load_scripted, load_torchscript
from vemrestore.models.common import MAX_WINDOW

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
MAX_RDF_BYTES = 1 << 20
"""A model description is a few KiB; a larger one is refused before parsing."""
MAX_WEIGHTS_BYTES = 4 << 30
"""Largest uncompressed weights file (or native checkpoint) extracted from a package."""
TRUST_HINT = (
    "a TorchScript file is a program that runs code when loaded; load it only if you trust "
    "its author, with --trust-model-code (API: trust_code=True)"
)


def is_exported_model(path: Path) -> bool:
    """Whether ``path`` names an export this module loads (decided by name, not content)."""
    name = path.name.lower()
    return (
        name.endswith((".zip", ".onnx", ".torchscript.pt"))
        or name in RDF_NAMES
        or name.endswith(".bioimageio.yaml")
    )


def load_exported_model(path: Path, *, trust_code: bool = False) -> Checkpoint:
    """Load a bioimage.io package, or a vemrestore TorchScript or ONNX export.

    TorchScript runs code from the file when loaded: refused unless ``trust_code``.
    """
    name = path.name.lower()
    if not path.is_file():
        raise VemRestoreError(f"{path}: model file not found")
    if name.endswith(".onnx"):
        return load_onnx(path)
    if name.endswith(".torchscript.pt"):
        if not trust_code:
            raise VemRestoreError(f"{path}: refused: {TRUST_HINT}")
        return load_torchscript(path)
    return load_bioimageio_package(path, trust_code=trust_code)


def load_bioimageio_package(path: Path, *, trust_code: bool = False) -> Checkpoint:
    """A bioimage.io model package (zip or rdf.yaml) → ``Checkpoint`` (see module docstring)."""
    with tempfile.TemporaryDirectory(prefix="vemrestore-package-") as folder:
        if path.suffix.lower() == ".zip":
            return _load_zip(path, Path(folder), trust_code)
        if path.stat().st_size > MAX_RDF_BYTES:
            raise VemRestoreError(_too_large(path.name, path.stat().st_size, MAX_RDF_BYTES))
        rdf = _parse_yaml(path.read_bytes(), str(path))
        choice = _choose_weights(rdf, lambda s: (path.parent / s).is_file(), trust_code, str(path))
        return _load_choice(rdf, choice, path.parent, str(path))


def _load_zip(path: Path, root: Path, trust_code: bool) -> Checkpoint:
    """Extract the description and the one weights file used, each size-checked first."""
    label = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            rdf_name = next((n for n in RDF_NAMES if n in members), None)
            if rdf_name is None:
                raise VemRestoreError(f"{path}: not a bioimage.io package (no rdf.yaml inside)")
            rdf = _parse_yaml(_read_member(archive, members[rdf_name], MAX_RDF_BYTES, label), label)
            choice = _choose_weights(rdf, members.__contains__, trust_code, label)
            info = members[choice[1]]
            _check_size(info, MAX_WEIGHTS_BYTES, label)
            archive.extract(info, root)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error, OSError) as error:
        # OSError: also corrupt offsets (a seek before the start of the file)
        raise VemRestoreError(
            f"{path}: not a readable bioimage.io package ({type(error).__name__}: {error})"
        ) from None
    return _load_choice(rdf, choice, root, label)


def _too_large(name: str, size: int, limit: int) -> str:
    return (
        f"{name}: {size / 2**20:.1f} MiB uncompressed is over vemrestore's limit of "
        f"{limit / 2**20:.0f} MiB for this file; refused"
    )


def _check_size(info: zipfile.ZipInfo, limit: int, label: str) -> None:
    if info.file_size > limit:
        raise VemRestoreError(f"{label}: {_too_large(info.filename, info.file_size, limit)}")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, label: str) -> bytes:
    _check_size(info, limit, label)
    with archive.open(info) as member:  # reads at most the declared size
        return member.read(limit + 1)


def _parse_yaml(text: bytes | str, label: str) -> dict[str, Any]:
    try:
        rdf = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        raise VemRestoreError(f"{label}: unreadable bioimage.io description ({error})") from None
    if not isinstance(rdf, dict) or rdf.get("type") != "model":
        raise VemRestoreError(f"{label}: not a bioimage.io model description")
    if not str(rdf.get("format_version", "")).startswith("0.5"):
        raise VemRestoreError(
            f"{label}: bioimage.io model format {rdf.get('format_version')}; vemrestore reads "
            "0.5.x (convert it with bioimageio.spec's update_format)"
        )
    return rdf


def _local_source(entry: Any) -> str | None:
    """A package-relative file name from a description entry, or None (URL, absolute, absent)."""
    source = entry.get("source") if isinstance(entry, dict) else None
    if not isinstance(source, str) or not source or "://" in source:
        return None
    return None if Path(source).is_absolute() or ".." in Path(source).parts else source


def _choose_weights(
    rdf: dict[str, Any], present: Callable[[str], bool], trust_code: bool, label: str
) -> tuple[str, str]:
    """(kind, package-relative source) of the weights to load: native, onnx or torchscript."""
    attachments = rdf.get("attachments") or []
    for entry in attachments if isinstance(attachments, list) else []:
        source = _local_source(entry)
        if source and Path(source).name == NATIVE_CHECKPOINT_NAME and present(source):
            return "native", source
    weights = rdf.get("weights") if isinstance(rdf.get("weights"), dict) else {}
    found = {
        kind: source
        for kind in ("onnx", "torchscript")
        if (source := _local_source(weights.get(kind))) and present(source)
    }
    if "onnx" in found:
        return "onnx", found["onnx"]
    if "torchscript" in found and trust_code:
        return "torchscript", found["torchscript"]
    if "torchscript" in found:
        raise VemRestoreError(
            f"{label}: refused: its only usable weights are TorchScript, and {TRUST_HINT}"
        )
    raise VemRestoreError(
        f"{label}: no vemrestore checkpoint and no local ONNX or TorchScript weights to load"
    )


def _load_choice(
    rdf: dict[str, Any], choice: tuple[str, str], root: Path, label: str
) -> Checkpoint:
    kind, source = choice
    if kind == "native":
        return load_native_checkpoint(root / source)
    inputs, outputs = rdf.get("inputs"), rdf.get("outputs")
    if not (isinstance(inputs, list) and isinstance(outputs, list)) or not (
        len(inputs) == 1 == len(outputs) and isinstance(inputs[0], dict)
    ):
        raise VemRestoreError(f"{label}: vemrestore runs models with one input and one output")
    axes = inputs[0].get("axes")
    window, multiple = _window(axes if isinstance(axes, list) else [], label)
    name = f"bioimageio:{rdf.get('name')}"
    if kind == "onnx":
        description = {
            "window": window,
            "accepts_any_window": False,
            "size_multiple": multiple,
            "model_name": name,
        }
        network: nn.Module = OnnxNetwork(root / source, description)
    else:
        try:
            scripted = load_scripted(root / source)
        except (RuntimeError, ValueError) as error:
            raise VemRestoreError(f"{label}: unreadable TorchScript weights ({error})") from None
        network = ScriptedNetwork(scripted, window, False, name)
    normalization = _normalization(inputs[0], label)
    return Checkpoint(network.eval(), normalization, {"source": label, "name": rdf.get("name")})


def _window(axes: list[Any], label: str) -> tuple[int, int]:
    """(batch, z-or-channel of fixed size, y, x) → (that fixed size, y/x size step).

    Other layouts are refused.
    """
    if not all(isinstance(a, dict) for a in axes):
        axes = []
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
    if not isinstance(size, int) or not 1 <= size <= MAX_WINDOW:
        raise VemRestoreError(
            f"{label}: the {layout[1][1]} axis needs a fixed size (the window) of 1 to {MAX_WINDOW}"
        )
    return size, _size_step(axes[2])


def _size_step(axis: dict[str, Any]) -> int:
    """The step of a parameterised y size (sizes the graph accepts are multiples of it)."""
    size = axis.get("size")
    step = size.get("step") if isinstance(size, dict) else None
    return step if isinstance(step, int) and 1 <= step <= 4096 else 1


def _normalization(tensor: dict[str, Any], label: str) -> NormalizationConfig:
    """The ``NormalizationConfig`` equal to the input's preprocessing, or a clear refusal."""
    try:
        return _read_normalization(tensor, label)
    except (AttributeError, TypeError, ValueError) as error:  # malformed field types
        raise VemRestoreError(
            f"{label}: malformed input description ({type(error).__name__}: {error})"
        ) from None


def _read_normalization(tensor: dict[str, Any], label: str) -> NormalizationConfig:
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
