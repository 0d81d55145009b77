import pytest
import torch

from vemrestore.config import NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import load_checkpoint
from vemrestore.models import create_model


def test_checkpoint_carries_model_name_params_normalisation_and_metadata(tmp_path):
    path = tmp_path / "model.pt"
    normalization = NormalizationConfig(mode="percentile", low_percentile=1, high_percentile=99.5)
    save_checkpoint(path, create_model("identity", window=7), normalization, {"note": "test"})
    loaded = load_checkpoint(path)
    assert loaded.model.model_name == "identity" and loaded.model.window == 7
    assert loaded.normalization == normalization
    assert loaded.metadata == {"note": "test"}
    assert not loaded.model.training
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_models_not_built_by_the_registry_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="create_model"):
        save_checkpoint(tmp_path / "m.pt", torch.nn.Identity(), NormalizationConfig())


def test_damaged_checkpoint_is_reported(tmp_path):
    path = tmp_path / "damaged.pt"
    save_checkpoint(path, create_model("identity"), NormalizationConfig())
    payload = torch.load(path, weights_only=True)
    payload["model_params"] = {"no_such_param": 1}
    torch.save(payload, path)
    with pytest.raises(VemRestoreError, match="damaged.pt: damaged"):
        load_checkpoint(path)


def test_newer_checkpoint_format_is_refused_with_advice(tmp_path):
    path = tmp_path / "future.pt"
    save_checkpoint(path, create_model("identity"), NormalizationConfig())
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(VemRestoreError, match="upgrade"):
        load_checkpoint(path)
