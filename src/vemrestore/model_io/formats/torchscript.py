"""TorchScript export: one file that runs the network in any PyTorch (C++ or Python).

A TorchScript file is a program: loading one runs code it carries. vemrestore writes its own
files with nothing but the network, but loads any ``.torchscript.pt`` only when the user says
they trust it (``vemrestore.model_io.formats.load``).

``torch.jit.script`` (not ``trace``) is used: both are deprecated in PyTorch 2.x, but only
scripting keeps the networks' size-dependent padding, so the file restores tiles of any
height and width; tracing would freeze the padding of the example size. TorchScript stays
the weight format bioimage.io consumers (deepImageJ, ilastik, bioimageio.core) run.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    size_multiple,
    tile_normalizer,
)


class ScriptedNetwork(nn.Module):
    """A loaded TorchScript network, with the attributes the inference engine reads.

    (B, D, H, W) float32 → same shape, like every registered model.
    """

    def __init__(
        self, scripted: nn.Module, window: int, accepts_any_window: bool, name: str
    ) -> None:
        super().__init__()
        self.scripted = scripted
        self.window = window
        self.accepts_any_window = accepts_any_window
        self.model_name = name
        self.model_params: dict[str, object] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scripted(x)


@contextmanager
def _known_jit_deprecation() -> Iterator[None]:
    """Silence only the ``torch.jit`` deprecation warnings (why TorchScript: module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
        yield


def load_scripted(path: Path, extra_files: dict[str, str] | None = None) -> nn.Module:
    """``torch.jit.load`` on CPU; ``extra_files`` keys are filled with the stored contents."""
    with _known_jit_deprecation():
        return torch.jit.load(str(path), map_location="cpu", _extra_files=extra_files or {})


def write_torchscript(
    checkpoint: Checkpoint, path: Path, raw_tile: np.ndarray, label: str
) -> float:
    """Script, save to ``path`` and reload it; returns the checked max difference to eager.

    ``label`` names the export in messages (``path`` may be a temporary name).
    """
    extra = {DESCRIPTION_KEY: json.dumps(describe(checkpoint), default=str)}
    with _known_jit_deprecation():
        scripted = torch.jit.script(checkpoint.model.eval())
        torch.jit.save(scripted, str(path), _extra_files=extra)
    reloaded = load_scripted(path)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return reloaded(torch.from_numpy(batch)).numpy()

    normalized = tile_normalizer(checkpoint.normalization, raw_tile).normalize(raw_tile)
    batches = check_inputs(normalized, size_multiple(checkpoint.model))
    return check_against_eager(f"{label} (torchscript)", checkpoint.model, run, batches)


def export_torchscript(
    checkpoint: Checkpoint, out_path: Path, raw_tile: np.ndarray, overwrite: bool
) -> Path:
    """Write a checked TorchScript file carrying window and normalisation (an extra file)."""
    with atomic_output(out_path, overwrite) as tmp:
        write_torchscript(checkpoint, tmp, raw_tile, str(out_path))
    return out_path


def load_torchscript(path: Path) -> Checkpoint:
    """A vemrestore TorchScript export → ``Checkpoint`` with its embedded normalisation."""
    extra = {DESCRIPTION_KEY: ""}
    try:
        scripted = load_scripted(path, extra)
    except (RuntimeError, ValueError) as error:
        raise VemRestoreError(f"{path}: not a TorchScript file ({error})") from None
    description = parse_description(extra[DESCRIPTION_KEY], str(path))

    def network() -> nn.Module:
        return ScriptedNetwork(
            scripted,
            int(description["window"]),
            bool(description["accepts_any_window"]),
            str(description["model_name"]),
        )

    return described_checkpoint(network, description, str(path))
