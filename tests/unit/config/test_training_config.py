"""Training config: defaults, the commented default YAML, bounds and cross-field checks."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from vemrestore.config.training import (
    DEFAULT_CONFIG_YAML,
    TrainingConfig,
    load_training_config,
    parse_duration,
    parse_loss,
    save_training_config,
    with_key_slices,
)
from vemrestore.errors import VemRestoreError


def test_default_yaml_is_the_default_config() -> None:
    loaded = TrainingConfig(**yaml.safe_load(DEFAULT_CONFIG_YAML))
    assert loaded.resolved() == TrainingConfig().resolved()


def test_saved_config_loads_back(tmp_path: Path) -> None:
    config = with_key_slices(TrainingConfig(batch_size=3), 6).resolved()
    save_training_config(config, tmp_path / "c.yaml")
    assert load_training_config(tmp_path / "c.yaml") == config
    assert config.model.params["window"] == 7


def test_loss_and_duration_parsing() -> None:
    assert parse_loss("1*L1+0.5*ssim") == [(1.0, "L1"), (0.5, "SSIM")]
    assert parse_loss("MSE") == [(1.0, "MSE")]
    assert parse_duration("1h30m").total_seconds() == 5400
    for bad in ("1*L3", "L1+", "-1*L1"):
        with pytest.raises(ValueError):
            parse_loss(bad)
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_cross_field_checks() -> None:
    with pytest.raises(ValidationError, match="window 5"):
        TrainingConfig(key_slices={"period": 4}, model={"params": {"window": 3}})
    with pytest.raises(ValidationError, match="budget"):
        TrainingConfig(epochs=None)
    with pytest.raises(ValidationError):
        TrainingConfig(batch_size=0)
    with pytest.raises(ValidationError):
        TrainingConfig(unknown=1)
    with pytest.raises(ValidationError, match="offset"):
        TrainingConfig(key_slices={"period": 4, "offset": 4})


def test_overrides_and_file_errors(tmp_path: Path) -> None:
    config = load_training_config(None, ["optimizer.lr=1e-3", "max_time=5m", "batch_size=2"])
    assert (config.optimizer.lr, config.max_time, config.batch_size) == (1e-3, "5m", 2)
    with pytest.raises(VemRestoreError, match="batch_sise"):
        load_training_config(None, ["batch_sise=2"])
    with pytest.raises(VemRestoreError, match="expected key=value"):
        load_training_config(None, ["batch_size"])
    with pytest.raises(VemRestoreError, match="nope.yaml"):
        load_training_config(tmp_path / "nope.yaml")


def test_default_tiling_is_fitted_to_the_plane_and_a_given_tile_is_kept():
    from vemrestore.config import InferenceConfig

    assert InferenceConfig().resolved_tiling(5, (9, 1024, 2048)) == ((5, 368, 448), (2, 32, 32))
    assert InferenceConfig().resolved_tiling(1, (1, 100, 60)) == ((1, 128, 80), (0, 32, 32))
    given = InferenceConfig(tile=(5, 256, 256))
    assert given.resolved_tiling(5, (9, 1024, 1024)) == ((5, 256, 256), (2, 32, 32))
