"""A checkpoint states how it restores; files written before the record existed derive it."""

from pathlib import Path

import pytest
import torch

from vemrestore.config import NormalizationConfig
from vemrestore.config.restoration import RestorationSpec
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import export_model, load_checkpoint
from vemrestore.models import create_model

PRETRAINED = Path(__file__).parents[3] / "src" / "vemrestore" / "pretrained"


def test_the_record_is_written_and_read_back(tmp_path) -> None:
    path = tmp_path / "keys.pt"
    normalization = NormalizationConfig(mode="percentile")
    metadata = {
        "task": "key_slices",
        "config": {"key_slices": {"period": 4, "offset": 1}},
        "input_spread": [0.1, 0.9],
    }
    save_checkpoint(path, create_model("identity", window=5), normalization, metadata)
    recorded = torch.load(path, weights_only=True)["restoration"]
    assert RestorationSpec(**recorded) == RestorationSpec(
        task="key_slices",
        window=5,
        any_window=True,
        key_period=4,
        normalization=normalization,
        input_spread=(0.1, 0.9),
    )
    loaded = load_checkpoint(path)
    assert loaded.recorded is not None and loaded.restoration == loaded.recorded
    assert loaded.source == path


def test_a_checkpoint_without_the_record_derives_it_from_its_config(tmp_path) -> None:
    path = tmp_path / "old.pt"
    metadata = {
        "task": "self_supervised",
        "config": {
            "self_supervised": {"inference": "sublattice"},
            "synthetic": {"family": {"electrons": [5, 80]}},
        },
    }
    save_checkpoint(path, create_model("identity", window=1), NormalizationConfig(), metadata)
    payload = torch.load(path, weights_only=True)
    del payload["restoration"]  # as written before the record existed
    torch.save(payload, path)
    loaded = load_checkpoint(path)
    assert loaded.recorded is None
    spec = loaded.restoration
    assert (spec.task, spec.inference, spec.key_period) == ("self_supervised", "sublattice", None)
    assert spec.trained_electrons == (5.0, 80.0)


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("supervised_unet2p5d.pt", "supervised"),
        ("self_supervised_unet2p5d.pt", "self_supervised"),
        ("generalist_unet2p5d.pt", "synthetic"),
    ],
)
def test_the_shipped_models_describe_how_they_restore(name, task) -> None:
    checkpoint = load_checkpoint(PRETRAINED / name)
    spec = checkpoint.restoration
    assert (spec.task, spec.inference, spec.key_period) == (task, "full", None)
    assert spec.window == checkpoint.model.window
    assert spec.normalization == checkpoint.normalization
    assert (spec.trained_electrons is not None) == (task == "synthetic")


@pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")
def test_an_export_carries_the_record(tmp_path) -> None:
    source = tmp_path / "keys.pt"
    metadata = {"task": "key_slices", "config": {"key_slices": {"period": 2, "offset": 0}}}
    network = create_model("unet2p5d", window=3, base_channels=4, depth=2)
    save_checkpoint(source, network, NormalizationConfig(), metadata)
    exported = export_model(source, tmp_path / "keys.torchscript.pt", "torchscript")
    loaded = load_checkpoint(exported, trust_code=True)
    assert loaded.recorded == load_checkpoint(source).restoration
    assert (loaded.restoration.key_period, loaded.source) == (2, exported)
