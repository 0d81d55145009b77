"""Model files are untrusted input: nothing in one runs unless the user says they trust it.

The hostile files here are real: a TorchScript module whose ``__setstate__`` (run by
``torch.jit.load``) writes a marker file, alone and as the only weights of a bioimage.io zip.
Loaded with trust, the marker appears (so the tests can fail); without, it must not.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from vemrestore.cli import app
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.files import export_model, load_checkpoint
from vemrestore.model_io.formats.load import MAX_RDF_BYTES

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


class _Hostile(torch.nn.Module):
    """Writes 4 bytes to ``marker`` whenever it is unpickled (``torch.jit.load``)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.marker, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.marker = state[0]
        self.training = state[1]
        written = torch.from_file(self.marker, shared=True, size=4, dtype=torch.uint8)
        self.training = state[1] and int(written.fill_(66).sum()) > 0  # used: not optimised out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def hostile_torchscript(path: Path, marker: Path) -> Path:
    scripted = torch.jit.script(_Hostile(str(marker)))
    marker.unlink(missing_ok=True)
    torch.jit.save(scripted, str(path))
    marker.unlink(missing_ok=True)
    return path


def torchscript_only_package(path: Path, marker: Path) -> Path:
    """The usual Model Zoo layout: rdf.yaml plus TorchScript weights, nothing else."""
    weights = hostile_torchscript(path.with_name("weights.torchscript.pt"), marker)
    rdf = {
        "type": "model",
        "format_version": "0.5.3",
        "name": "friendly denoiser",
        "inputs": [
            {
                "id": "raw",
                "axes": [
                    {"type": "batch"},
                    {"type": "space", "id": "z", "size": 3},
                    {"type": "space", "id": "y", "size": {"min": 16, "step": 16}},
                    {"type": "space", "id": "x", "size": {"min": 16, "step": 16}},
                ],
                "data": {"type": "float32"},
            }
        ],
        "outputs": [{"id": "restored", "axes": []}],
        "weights": {"torchscript": {"source": "weights.torchscript.pt"}},
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rdf.yaml", yaml.safe_dump(rdf))
        archive.write(weights, "weights.torchscript.pt")
    weights.unlink()
    return path


def test_the_hostile_file_really_runs_code_when_trusted(tmp_path):
    marker = tmp_path / "marker"
    model = hostile_torchscript(tmp_path / "evil.torchscript.pt", marker)
    with pytest.raises(VemRestoreError):  # no vemrestore description; but the code ran
        load_checkpoint(model, trust_code=True)
    assert marker.read_bytes() == b"BBBB"


@pytest.mark.parametrize(
    "make, name, refusal",
    [
        (hostile_torchscript, "evil.torchscript.pt", "runs code when loaded.*--trust-model-code"),
        (torchscript_only_package, "zoo.zip", "only usable weights are TorchScript"),
    ],
)
def test_torchscript_is_refused_without_trust_and_runs_nothing(tmp_path, make, name, refusal):
    marker = tmp_path / "marker"
    model = make(tmp_path / name, marker)
    with pytest.raises(VemRestoreError, match=refusal):
        load_checkpoint(model)
    assert not marker.exists()
    if name.endswith(".zip"):
        load_checkpoint(model, trust_code=True)  # trusted: loads (and the code runs)
        assert marker.exists()


def test_cli_denoise_and_export_refuse_hostile_models_without_trust(tmp_path):
    marker = tmp_path / "marker"
    model = hostile_torchscript(tmp_path / "evil.torchscript.pt", marker)
    package = torchscript_only_package(tmp_path / "zoo.zip", marker)
    volume = tmp_path / "in.tif"
    import tifffile

    tifffile.imwrite(volume, np.zeros((3, 16, 16), np.uint8), photometric="minisblack")
    runner = CliRunner()
    for args in (
        ["denoise", volume, tmp_path / "out.tif", "--model", model, "-q"],
        ["denoise", volume, tmp_path / "out.tif", "--model", package, "-q"],
        ["export", model, "--format", "onnx", "--out", tmp_path / "x.onnx"],
        ["export", package, "--format", "torchscript", "--out", tmp_path / "x.torchscript.pt"],
    ):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 2, result.output
        assert "--trust-model-code" in result.output
        assert not marker.exists()
    assert not (tmp_path / "out.tif").exists()


def test_api_export_refuses_torchscript_source_without_trust(tmp_path):
    marker = tmp_path / "marker"
    model = hostile_torchscript(tmp_path / "evil.torchscript.pt", marker)
    with pytest.raises(VemRestoreError, match="trust_code=True"):
        export_model(model, tmp_path / "x.onnx", "onnx")
    assert not marker.exists()


def test_zip_bomb_description_is_refused_before_it_is_read(tmp_path):
    package = tmp_path / "bomb.zip"
    with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("rdf.yaml", b"#" * (MAX_RDF_BYTES * 4))
    assert package.stat().st_size < MAX_RDF_BYTES // 50
    with pytest.raises(VemRestoreError, match="over vemrestore's limit of 1 MiB"):
        load_checkpoint(package)


def test_zip_bomb_weights_are_refused_before_extraction(tmp_path, monkeypatch):
    """The cap is checked on the declared size, before a byte is written to disk."""
    import vemrestore.model_io.formats.load as loader

    marker = tmp_path / "marker"
    package = torchscript_only_package(tmp_path / "zoo.zip", marker)
    monkeypatch.setattr(loader, "MAX_WEIGHTS_BYTES", 100)
    with pytest.raises(VemRestoreError, match="weights.torchscript.pt: .* over vemrestore's limit"):
        load_checkpoint(package, trust_code=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    "rdf",
    [
        {"type": "model", "format_version": "0.5.3", "weights": "nonsense"},
        {"type": "model", "format_version": "0.5.3", "attachments": "x", "weights": {"onnx": 3}},
        {
            "type": "model",
            "format_version": "0.5.3",
            "weights": {"torchscript": {"source": "../../etc/passwd"}},
        },
        "just a string",
        [1, 2],
    ],
)
def test_malformed_descriptions_get_one_clear_error(tmp_path, rdf):
    package = tmp_path / "odd.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("rdf.yaml", yaml.safe_dump(rdf))
    with pytest.raises(VemRestoreError):
        load_checkpoint(package, trust_code=True)
