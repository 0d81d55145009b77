"""Training config schema: bounds and cross-field checks."""

import pytest
from pydantic import ValidationError

from vemrestore.config.training import TrainingConfig


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


def test_default_tiling_is_fitted_to_the_plane_and_a_given_tile_is_kept():
    from vemrestore.config import InferenceConfig

    assert InferenceConfig().resolved_tiling(5, (9, 1024, 2048)) == ((5, 368, 448), (2, 32, 32))
    assert InferenceConfig().resolved_tiling(1, (1, 100, 60)) == ((1, 128, 80), (0, 32, 32))
    given = InferenceConfig(tile=(5, 256, 256))
    assert given.resolved_tiling(5, (9, 1024, 1024)) == ((5, 256, 256), (2, 32, 32))
