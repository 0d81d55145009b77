"""Training configs as YAML: the commented default YAML, save and load, ``--set`` overrides and
file errors."""

from pathlib import Path

import pytest
import yaml

from vemrestore.config.training import TrainingConfig, with_key_slices
from vemrestore.config.training_yaml import (
    DEFAULT_CONFIG_YAML,
    load_training_config,
    save_training_config,
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


def test_overrides_and_file_errors(tmp_path: Path) -> None:
    config = load_training_config(None, ["optimizer.lr=1e-3", "max_time=5m", "batch_size=2"])
    assert (config.optimizer.lr, config.max_time, config.batch_size) == (1e-3, "5m", 2)
    with pytest.raises(VemRestoreError, match="batch_sise"):
        load_training_config(None, ["batch_sise=2"])
    with pytest.raises(VemRestoreError, match="expected key=value"):
        load_training_config(None, ["batch_size"])
    with pytest.raises(VemRestoreError, match="nope.yaml"):
        load_training_config(tmp_path / "nope.yaml")
