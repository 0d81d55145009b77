"""Default settings train a 2D image, a thin stack and a small volume in every training mode.

Only the budget is made tiny; window, validation axis and patch size are left to the data.
"""

from pathlib import Path

import pytest
import tifffile
import torch

from vemrestore.config.training import with_key_slices, with_self_supervised
from vemrestore.config.training_yaml import load_training_config
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.files import load_checkpoint
from vemrestore.pretrained import GENERALIST
from vemrestore.training.run import train

TINY_BUDGET = [
    "epochs=null",
    "steps=2",
    "steps_per_epoch=1",
    "batch_size=1",
    "validation.patches=1",
]
SHAPES = {"image": (1, 768, 768), "stack": (3, 200, 300), "volume": (16, 256, 256)}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def pair(tmp_path: Path, phantom_pair):
    def write(shape: tuple[int, int, int]) -> tuple[Path, Path]:
        fast, slow = phantom_pair(shape, seed=1)
        (tmp_path / "data").mkdir()
        paths = tmp_path / "data" / "a_fast.tif", tmp_path / "data" / "a_slow.tif"
        for path, volume in zip(paths, (fast, slow), strict=True):
            tifffile.imwrite(path, volume, photometric="minisblack")
        return paths

    return write


def _resolved(run: Path) -> tuple[int, str, tuple[int, int]]:
    config = load_training_config(run / "config.yaml")
    return config.model.window, config.validation.axis, tuple(config.patch_size)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("image", (1, "y", (128, 128))),
        ("stack", (1, "z", (128, 128))),
        ("volume", (1, "z", (128, 128))),
    ],
)
def test_supervised_defaults_fit_the_data(pair, tmp_path: Path, shape: str, expected) -> None:
    fast, slow = pair(SHAPES[shape])
    config = load_training_config(None, [*TINY_BUDGET, f"data.folder={tmp_path / 'data'}"])
    result = train(config, tmp_path / "run")
    assert _resolved(tmp_path / "run") == expected
    assert load_checkpoint(result.best).model.window == expected[0]


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("image", (1, "y", (128, 128))),
        ("stack", (1, "z", (96, 96))),
        ("volume", (1, "z", (128, 128))),
    ],
)
def test_self_supervised_defaults_fit_the_data(pair, tmp_path: Path, shape: str, expected) -> None:
    noisy, _ = pair(SHAPES[shape])
    config = with_self_supervised(load_training_config(None, TINY_BUDGET), [str(noisy)])
    result = train(config, tmp_path / "run")
    assert _resolved(tmp_path / "run") == expected
    assert result.best.is_file()


@pytest.mark.parametrize(
    ("shape", "period", "expected"),
    [("stack", 2, (3, "x", (72, 72))), ("volume", 4, (5, "z", (128, 128)))],
)
def test_key_slice_defaults_fit_the_data(pair, tmp_path: Path, shape, period, expected) -> None:
    fast, slow = pair(SHAPES[shape])
    config = load_training_config(None, [*TINY_BUDGET, f"data.folder={tmp_path / 'data'}"])
    train(with_key_slices(config, period), tmp_path / "run")
    assert _resolved(tmp_path / "run") == expected


@pytest.mark.parametrize("shape", ["image", "stack"])
def test_key_slices_on_too_few_slices_say_what_is_needed(pair, tmp_path: Path, shape) -> None:
    pair(SHAPES[shape])
    config = load_training_config(None, [*TINY_BUDGET, f"data.folder={tmp_path / 'data'}"])
    with pytest.raises(VemRestoreError, match="needs volumes of at least 5 slices"):
        train(with_key_slices(config, 4), tmp_path / "run")


def test_budget_ending_before_validation_still_writes_best_and_says_so(pair, tmp_path) -> None:
    pair(SHAPES["stack"])
    budget = ["epochs=null", "steps=1", "steps_per_epoch=5", "batch_size=1"]
    config = load_training_config(None, [*budget, f"data.folder={tmp_path / 'data'}"])
    result = train(config, tmp_path / "run")
    assert result.best.is_file() and not result.validated
    assert load_checkpoint(result.best).metadata["validated"] is False
    assert "before the first validation" in result.warnings[0]
    low, high = load_checkpoint(result.best).metadata["input_spread"]
    assert 0.0 < low < high < 1.0


def test_a_model_not_better_than_its_input_is_flagged(pair, tmp_path, caplog) -> None:
    pair(SHAPES["stack"])
    config = load_training_config(
        None, [*TINY_BUDGET, "optimizer.lr=1e-9", f"data.folder={tmp_path / 'data'}"]
    )
    result = train(config, tmp_path / "run", from_scratch=True)
    assert result.validated and result.best_psnr < result.input_psnr
    assert "is not above the input's" in result.warnings[0]
    assert f"{result.input_psnr:.2f} dB" in caplog.text


@pytest.mark.parametrize("from_scratch", [False, True], ids=["generalist", "scratch"])
def test_a_2d_pilot_pair_fine_tunes_the_generalist_by_default(
    pair, tmp_path: Path, from_scratch: bool
) -> None:
    """One fast/slow image each, default settings: the run starts from the shipped generalist
    (a learning rate of ~0 keeps its weights), unless ``from_scratch``."""
    pair((1, 256, 256))
    sets = [*TINY_BUDGET, f"data.folder={tmp_path / 'data'}", "optimizer.lr=1e-12"]
    result = train(load_training_config(None, sets), tmp_path / "run", from_scratch=from_scratch)
    trained = load_checkpoint(result.last).model.state_dict()
    shipped = load_checkpoint(GENERALIST).model.state_dict()
    same = all(torch.allclose(trained[k], shipped[k], atol=1e-6) for k in shipped)
    assert same != from_scratch
