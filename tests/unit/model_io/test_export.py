"""Export → validate → reload round trips for every format, on tiny seeded models.

Each format is validated with its own tooling (``torch.jit.load``; ``onnx.checker`` plus ONNX
Runtime; ``bioimageio.spec`` validation plus ``bioimageio.core.test_model``), then reloaded
through vemrestore's loader and used by ``vemrestore.restore``: the result must equal
restoring with the original checkpoint. No network: bioimage.io runs offline on local files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import vemrestore
from vemrestore.config import NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import default_output_path, export_model, load_checkpoint
from vemrestore.model_io.formats.common import TOLERANCE, check_against_eager
from vemrestore.models import create_model

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

TINY = {
    "unet": ("unet2p5d", {"window": 3, "base_channels": 4, "depth": 2}),
    "identity": ("identity", {"window": 3}),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """Any HTTP(S) attempt fails fast, and bioimage.io's cache is a fresh temporary folder."""
    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path_factory.mktemp("bioimageio-cache")))
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")


def tiny_checkpoint(folder: Path, key: str, mode: str = "dtype") -> Path:
    name, params = TINY[key]
    torch.manual_seed(0)
    model = create_model(name, **params)
    with torch.no_grad():  # residual nets start near identity; make the correction visible
        for parameter in model.parameters():
            parameter.mul_(3.0)
    path = folder / f"{key}-{mode}.pt"
    save_checkpoint(path, model, NormalizationConfig(mode=mode), {"note": "tiny"})
    return path


def volume(dtype: str = "uint8") -> np.ndarray:
    values = np.random.default_rng(5).random((7, 30, 26)) * 0.8 + 0.1
    if dtype == "uint8":
        return np.rint(values * 255).astype(np.uint8)
    return values.astype(np.float32)


def assert_same_restoration(
    original: Path, exported: Path, data: np.ndarray, trust_code: bool = False
) -> None:
    expected = vemrestore.restore(data, original)
    restored = vemrestore.restore(data, exported, trust_code=trust_code)
    assert restored.dtype == expected.dtype
    if data.dtype.kind in "ui":  # rounding may flip at exact .5 boundaries only
        assert np.abs(restored.astype(int) - expected.astype(int)).max() <= 1
        assert np.mean(restored == expected) > 0.999
    else:
        np.testing.assert_allclose(restored, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("key", sorted(TINY))
def test_torchscript_round_trip(tmp_path, key):
    checkpoint = tiny_checkpoint(tmp_path, key)
    written = export_model(
        checkpoint, default_output_path(checkpoint, "torchscript"), "torchscript"
    )
    assert written.name == f"{key}-dtype.torchscript.pt"
    scripted = torch.jit.load(str(written))
    original = load_checkpoint(checkpoint).model
    x = torch.rand(2, 3, 21, 17)
    with torch.inference_mode():
        torch.testing.assert_close(scripted(x), original(x), atol=1e-5, rtol=0)
    with pytest.raises(VemRestoreError, match="runs code when loaded"):
        load_checkpoint(written)
    reloaded = load_checkpoint(written, trust_code=True)
    assert reloaded.model.window == 3 and reloaded.metadata == {"note": "tiny"}
    assert_same_restoration(checkpoint, written, volume(), trust_code=True)


@pytest.mark.parametrize("key, mode", [("unet", "dtype"), ("identity", "percentile")])
def test_onnx_round_trip(tmp_path, key, mode):
    checkpoint = tiny_checkpoint(tmp_path, key, mode)
    written = export_model(checkpoint, tmp_path / "model.onnx", "onnx")
    onnx.checker.check_model(onnx.load(str(written)), full_check=True)
    session = onnxruntime.InferenceSession(str(written), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((2, 3, 24, 20)).astype(np.float32)
    with torch.inference_mode():
        eager = load_checkpoint(checkpoint).model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x})[0], eager, atol=1e-5, rtol=0)
    reloaded = load_checkpoint(written)
    assert reloaded.normalization.mode == mode
    assert_same_restoration(checkpoint, written, volume())  # 30 × 26: padded for the graph


def test_bioimageio_package_validates_passes_core_test_and_round_trips(tmp_path):
    from bioimageio.core import test_model
    from bioimageio.spec import load_model_description

    checkpoint = tiny_checkpoint(tmp_path, "unet")
    package = export_model(checkpoint, tmp_path / "unet.zip", "bioimageio", authors=["A. Tester"])
    description = load_model_description(package, perform_io_checks=True)
    assert description.validation_summary.status in ("passed", "valid-format")
    assert description.weights.torchscript is not None and description.weights.onnx is not None
    assert [a.id for a in description.inputs[0].axes] == ["batch", "z", "y", "x"]
    assert test_model(package).status == "passed"
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
    assert {"rdf.yaml", "README.md", "cover.png", "vemrestore_checkpoint.pt"} <= names
    assert_same_restoration(checkpoint, package, volume())


def strip_package(package: Path, stripped: Path, drop: tuple[str, ...]) -> Path:
    """A copy of ``package`` without the native checkpoint and the ``drop`` weights."""
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(stripped, "w") as target:
        rdf = yaml.safe_load(source.read("rdf.yaml"))
        rdf.pop("attachments")
        for kind in drop:
            rdf["weights"].pop(kind)
        target.writestr("rdf.yaml", yaml.safe_dump(rdf))
        for name in source.namelist():
            if name not in ("rdf.yaml", "vemrestore_checkpoint.pt"):
                target.writestr(name, source.read(name))
    return stripped


def test_bioimageio_package_without_native_checkpoint_loads_onnx_then_trusted_torchscript(
    tmp_path,
):
    """The fallback paths: ONNX, else TorchScript (trusted only); normalisation read back
    from preprocessing."""
    checkpoint = tiny_checkpoint(tmp_path, "identity", "percentile")
    package = export_model(checkpoint, tmp_path / "full.zip", "bioimageio")
    with_onnx = strip_package(package, tmp_path / "onnx.zip", ())
    reloaded = load_checkpoint(with_onnx)
    assert type(reloaded.model).__name__ == "OnnxNetwork" and reloaded.model.window == 3
    assert reloaded.normalization == NormalizationConfig(mode="percentile")
    assert_same_restoration(checkpoint, with_onnx, volume())

    scripted_only = strip_package(package, tmp_path / "scripted.zip", ("onnx",))
    with pytest.raises(VemRestoreError, match="only usable weights are TorchScript"):
        load_checkpoint(scripted_only)
    reloaded = load_checkpoint(scripted_only, trust_code=True)
    assert type(reloaded.model).__name__ == "ScriptedNetwork" and reloaded.model.window == 3
    assert reloaded.normalization == NormalizationConfig(mode="percentile")
    assert_same_restoration(checkpoint, scripted_only, volume(), trust_code=True)


def test_export_refuses_a_mismatch_and_names_the_difference():
    model = create_model("identity", window=3)
    batch = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(VemRestoreError, match=r"differs from the eager model by 0\.01 \(max"):
        check_against_eager("bad.onnx", model, lambda b: b + 0.01, [batch])
    assert check_against_eager("good.onnx", model, lambda b: b + TOLERANCE / 2, [batch]) > 0


def test_existing_output_is_kept_without_overwrite(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path, "identity")
    target = tmp_path / "model.onnx"
    target.write_bytes(b"keep")
    with pytest.raises(VemRestoreError, match="already exists"):
        export_model(checkpoint, target, "onnx")
    assert target.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity-dtype.pt", "model.onnx"]


def test_unknown_format_and_dtype_are_refused(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path, "identity")
    with pytest.raises(VemRestoreError, match="expected one of bioimageio"):
        export_model(checkpoint, tmp_path / "x.bin", "tflite")
    with pytest.raises(VemRestoreError, match="input dtype 'int8'"):
        export_model(checkpoint, tmp_path / "x.onnx", "onnx", input_dtype="int8")


def test_a_foreign_zip_is_refused_clearly(tmp_path):
    path = tmp_path / "other.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(VemRestoreError, match="no rdf.yaml inside"):
        load_checkpoint(path)


def test_importing_vemrestore_does_not_import_exporters():
    import subprocess
    import sys

    code = (
        "import sys, vemrestore, vemrestore.api, vemrestore.cli; "
        "print([m for m in sys.modules if m.split('.')[0] in ('bioimageio', 'onnx', "
        "'onnxruntime', 'onnxscript')])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
