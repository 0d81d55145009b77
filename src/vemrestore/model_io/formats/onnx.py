"""ONNX export, and running an ONNX export as a vemrestore model (via ONNX Runtime).

Exported with PyTorch's ``torch.export``-based exporter (``dynamo=True``, the default since
PyTorch 2.9; the TorchScript-based one is deprecated). Batch, height and width are dynamic;
height and width are declared as multiples of the network's ``size_multiple``, where its
internal padding is a no-op, so the graph holds no shape-dependent branch. ``OnnxNetwork``
pads other sizes to that multiple before calling the graph and crops after.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vemrestore.errors import VemRestoreError
from vemrestore.io.atomic import atomic_output
from vemrestore.model_io.checkpoint import Checkpoint
from vemrestore.model_io.formats.common import (
    DESCRIPTION_KEY,
    check_against_eager,
    check_inputs,
    describe,
    described_checkpoint,
    parse_description,
    require_module,
    size_multiple,
    tile_normalizer,
)
from vemrestore.models.common import pad_to_multiple

logger = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "output"


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's noise that is not about this model (absent torchvision ops, a
    PyTorch-internal FutureWarning); real problems still raise."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def _spatial_dim(name: str, multiple: int) -> Any:
    dim = torch.export.Dim(name, min=1, max=1 << 16)
    return dim * multiple if multiple > 1 else dim


def write_onnx(
    checkpoint: Checkpoint, path: Path, raw_tile: np.ndarray, label: str
) -> tuple[float, int]:
    """Export to ``path``, check it with ``onnx.checker`` and ONNX Runtime against eager.

    Returns (max difference to eager on the test tile, ONNX opset version). ``label`` names
    the export in messages (``path`` may be a temporary name).
    """
    require_module("onnxscript", "ONNX export")
    onnx = require_module("onnx", "ONNX export")
    model = checkpoint.model.eval()
    multiple = size_multiple(model)
    normalized = tile_normalizer(checkpoint.normalization, raw_tile).normalize(raw_tile)
    batches = check_inputs(normalized, multiple)
    shapes = (
        {
            0: torch.export.Dim("batch", min=1, max=4096),
            2: _spatial_dim("height_blocks", multiple),
            3: _spatial_dim("width_blocks", multiple),
        },
    )
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                model,
                (torch.from_numpy(batches[-1]),),  # a batch of two: one would be specialised
                dynamo=True,
                dynamic_shapes=shapes,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                verbose=False,
            )
        program.save(str(path))
    except Exception as error:  # the exporter raises many types; all mean "cannot export"
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise VemRestoreError(
            f"{label}: ONNX export failed ({type(error).__name__}: {message})"
        ) from error
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(
        proto, {DESCRIPTION_KEY: json.dumps(describe(checkpoint), default=str)}
    )
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    session = _session(path)
    difference = check_against_eager(
        f"{label} (onnx)",
        model,
        lambda batch: session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0],
        batches,
    )
    return difference, opset


def export_onnx(
    checkpoint: Checkpoint, out_path: Path, raw_tile: np.ndarray, overwrite: bool
) -> Path:
    """Write a checked ONNX file carrying window and normalisation (model metadata)."""
    with atomic_output(out_path, overwrite) as tmp:
        write_onnx(checkpoint, tmp, raw_tile, str(out_path))
    return out_path


def _session(path: Path) -> Any:
    onnxruntime = require_module("onnxruntime", "Running an ONNX model")
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


class OnnxNetwork(nn.Module):
    """An ONNX graph run by ONNX Runtime on the CPU, following the model contract.

    (B, D, H, W) float32 → same shape; H and W are padded to ``size_multiple`` for the graph.
    """

    def __init__(self, path: Path, description: dict[str, Any]) -> None:
        super().__init__()
        try:
            self.session = _session(path)
        except VemRestoreError:
            raise
        except Exception as error:  # ONNX Runtime's errors share no public base class
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise VemRestoreError(
                f"{path.name}: ONNX Runtime cannot run this graph ({type(error).__name__}: "
                f"{reason})"
            ) from None
        self.window = int(description["window"])
        self.accepts_any_window = bool(description["accepts_any_window"])
        self.size_multiple = int(description["size_multiple"])
        self.model_name = f"onnx:{description['model_name']}"
        # The file's hash stands in for weights, so block-run digests tell two exports apart.
        self.model_params = {"onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        padded = pad_to_multiple(x.detach().float().cpu(), self.size_multiple).contiguous()
        (output,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: padded.numpy()})
        return torch.from_numpy(output[..., :height, :width]).to(x.device)


def load_onnx(path: Path) -> Checkpoint:
    """A vemrestore ONNX export → ``Checkpoint`` with its embedded normalisation."""
    onnx = require_module("onnx", "Loading an ONNX model")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf decode errors have no common public type
        raise VemRestoreError(f"{path}: not an ONNX file ({type(error).__name__})") from None
    properties = {p.key: p.value for p in proto.metadata_props}
    description = parse_description(properties.get(DESCRIPTION_KEY, ""), str(path))
    return described_checkpoint(lambda: OnnxNetwork(path, description), description, str(path))
