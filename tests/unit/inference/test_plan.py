"""The restoration plan: which mode a model gets, and the tiling each mode may use."""

import pytest

from vemrestore.config import InferenceConfig
from vemrestore.config.restoration import RestorationSpec
from vemrestore.errors import VemRestoreError
from vemrestore.inference.plan import key_window_tiling, plan_restoration, tile_grid

PLAIN = RestorationSpec(task="supervised", window=3)
KEYS = RestorationSpec(task="key_slices", window=5, key_period=4)
SUBLATTICE = RestorationSpec(task="self_supervised", inference="sublattice")


def test_each_model_gets_its_own_mode() -> None:
    assert plan_restoration(PLAIN).mode == "full"
    keys = plan_restoration(KEYS, key_offset=2)
    assert (keys.mode, keys.key_period, keys.key_offset, keys.period_from_model) == (
        "key_slices",
        4,
        2,
        True,
    )
    assert plan_restoration(SUBLATTICE).mode == "sublattice"


def test_the_caller_overrides_the_model() -> None:
    assert plan_restoration(SUBLATTICE, sublattice=False).mode == "full"
    assert plan_restoration(PLAIN, sublattice=True).mode == "sublattice"
    given = plan_restoration(PLAIN, key_period=2)
    assert (given.mode, given.key_period, given.period_from_model) == ("key_slices", 2, False)


def test_blocks_are_asked_for_only_when_nothing_else_decides() -> None:
    def never_asked() -> bool:
        raise AssertionError("a key-slice or sub-lattice plan needs no block check")

    assert plan_restoration(PLAIN, blocks_possible=lambda: True).mode == "blocks"
    assert plan_restoration(PLAIN, blocks_possible=lambda: False).mode == "full"
    assert plan_restoration(KEYS, blocks_possible=never_asked).mode == "key_slices"
    assert plan_restoration(SUBLATTICE, blocks_possible=never_asked).mode == "sublattice"


def test_block_settings_without_a_block_run_are_refused() -> None:
    with pytest.raises(VemRestoreError, match="one process"):
        plan_restoration(SUBLATTICE, block_settings=True)
    with pytest.raises(VemRestoreError, match="--workers"):
        plan_restoration(KEYS, block_settings=True, blocks_possible=lambda: True)
    assert plan_restoration(PLAIN, block_settings=True, blocks_possible=lambda: True).mode == (
        "blocks"
    )


def test_tile_depth_must_match_a_fixed_window() -> None:
    assert tile_grid((6, 40, 40), PLAIN, InferenceConfig()).tile[0] == 3
    with pytest.raises(VemRestoreError, match="tile depth of 3"):
        tile_grid((6, 40, 40), PLAIN, InferenceConfig(tile=(2, 32, 32)))
    free = RestorationSpec(window=3, any_window=True)
    assert tile_grid((6, 40, 40), free, InferenceConfig(tile=(2, 32, 32))).tile[0] == 2


def test_key_slice_windows_take_the_in_plane_tiling_and_refuse_another_z() -> None:
    config = InferenceConfig(tile=(5, 32, 24), overlap=(0, 8, 4))
    assert key_window_tiling((9, 64, 64), 5, config) == ((5, 32, 24), (0, 8, 4))
    assert key_window_tiling((9, 64, 64), 5, InferenceConfig())[1][0] == 0
    with pytest.raises(VemRestoreError, match="tile depth of 5"):
        key_window_tiling((9, 64, 64), 5, InferenceConfig(tile=(3, 32, 32)))
    with pytest.raises(VemRestoreError, match="z overlap of 0"):
        key_window_tiling((9, 64, 64), 5, InferenceConfig(overlap=(2, 8, 8)))
