"""A self-supervised run keeps its starting model when SURE says fine-tuning made it worse, and
a mix of both networks' weights when SURE ranks that first."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from vemrestore.config.normalization import NormalizationConfig
from vemrestore.config.training import TrainingConfig, with_self_supervised
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import load_checkpoint
from vemrestore.models import create_model
from vemrestore.pretrained import GENERALIST
from vemrestore.simulate.family import ScanNoise, degrade
from vemrestore.training.run import FINE_TUNED, TrainResult, _keep_better_of_start
from vemrestore.training.selection import StartComparison, compare_with_start, mixed

DEMO = Path(__file__).resolve().parents[2] / "demo"


@pytest.fixture(scope="module")
def noisy() -> np.ndarray:
    """Demo slow scan (EPFL FIB-SEM) under lag-correlated shot noise, normalised."""
    slow = tifffile.imread(DEMO / "fibsem_slow_16x256x256.tif")[:4, :160, :160] / 255.0
    scan = degrade(slow, ScanNoise(electrons=40, lag=0.7), np.random.default_rng(0))
    return (np.rint(np.clip(scan, 0, 1) * 255) / 255).astype(np.float32)


def test_sure_prefers_the_network_that_removes_the_noise(noisy: np.ndarray) -> None:
    generalist = load_checkpoint(GENERALIST).model
    identity = create_model("identity", window=1)
    kept = compare_with_start(generalist, identity, noisy)
    tuned = compare_with_start(identity, generalist, noisy)
    assert kept is not None and tuned is not None
    assert kept.keeps_start and not tuned.keeps_start
    assert kept.start_psnr > kept.fine_tuned_psnr + 3.0  # identity: the input's PSNR, far below


def _result(run_dir: Path, best_model) -> TrainResult:
    run_dir.mkdir()
    best = run_dir / "best.pt"
    save_checkpoint(best, best_model, NormalizationConfig(), {"task": "self_supervised"})
    return TrainResult(run_dir, run_dir / "last.pt", best, 30.0, 1, 10, input_psnr=20.0)


def test_worse_fine_tuning_is_set_aside(tmp_path: Path, noisy: np.ndarray) -> None:
    config = with_self_supervised(TrainingConfig(), ["noisy.tif"])
    result = _result(tmp_path / "run", create_model("identity", window=1))
    kept = _keep_better_of_start(result, GENERALIST, noisy, config)
    assert kept.start_comparison is not None and kept.start_comparison.keeps_start
    assert load_checkpoint(kept.best).model.model_name == "unet2p5d"
    assert (
        load_checkpoint(kept.best).model.model_params
        == load_checkpoint(GENERALIST).model.model_params
    )
    assert load_checkpoint(kept.run_dir / FINE_TUNED).model.model_name == "identity"
    assert "starting model" in kept.warnings[0] and FINE_TUNED in kept.warnings[0]


def test_better_fine_tuning_is_kept(tmp_path: Path, noisy: np.ndarray) -> None:
    config = with_self_supervised(TrainingConfig(), ["noisy.tif"])
    start = tmp_path / "identity.pt"
    save_checkpoint(start, create_model("identity", window=1), NormalizationConfig())
    result = _result(tmp_path / "run", load_checkpoint(GENERALIST).model)
    kept = _keep_better_of_start(result, start, noisy, config)
    assert kept.start_comparison is not None and not kept.start_comparison.keeps_start
    assert load_checkpoint(kept.best).model.model_name == "unet2p5d"
    assert not (kept.run_dir / FINE_TUNED).exists() and not kept.warnings


def test_the_best_of_the_ends_and_the_mixes_is_kept() -> None:
    ends = StartComparison(30.0, 29.0, ((0.25, 30.4), (0.5, 30.2), (0.75, 29.5)))
    assert ends.best_share == 0.25 and not ends.keeps_start
    assert ends.kept() == "the fine-tuned weights mixed 25% with 75% of the start's"
    assert ends.describe().endswith(
        "by -1.00 dB PSNR, the weights mixed 25% fine-tuned by +0.40 dB"
    )
    assert StartComparison(30.0, 29.0, ((0.5, 29.9),)).keeps_start
    assert StartComparison(30.0, 30.0).keeps_start  # a tie keeps the start
    assert StartComparison(29.0, 30.0, ((0.5, 29.9),)).kept() == "the fine-tuned model"


def test_mixed_weights_lie_between_the_two_networks() -> None:
    generalist = load_checkpoint(GENERALIST).model
    tuned = load_checkpoint(GENERALIST).model
    with torch.no_grad():
        for parameter in tuned.parameters():
            parameter.add_(1.0)
    half = mixed(generalist, tuned, 0.5)
    name, weight = next(iter(half.state_dict().items()))
    start_weight = generalist.state_dict()[name]
    torch.testing.assert_close(weight, start_weight + 0.5)
    assert next(tuned.parameters()) is not next(half.parameters())  # a copy, not the input
    torch.testing.assert_close(tuned.state_dict()[name], start_weight + 1.0)


def test_a_mix_that_sure_ranks_first_is_saved_and_the_fine_tuned_set_aside(
    tmp_path: Path, noisy: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vemrestore.training.run as run

    monkeypatch.setattr(
        run, "compare_with_start", lambda *args: StartComparison(30.0, 29.0, ((0.5, 31.0),))
    )
    config = with_self_supervised(TrainingConfig(), ["noisy.tif"])
    tuned = load_checkpoint(GENERALIST).model
    with torch.no_grad():
        for parameter in tuned.parameters():
            parameter.add_(1.0)
    result = _keep_better_of_start(_result(tmp_path / "run", tuned), GENERALIST, noisy, config)
    assert not result.warnings and (result.run_dir / FINE_TUNED).is_file()
    best = load_checkpoint(result.best)
    assert best.metadata["task"] == "self_supervised"
    assert best.metadata["mixed_with_start"]["start_psnr"] == 30.0
    name, weight = next(iter(best.model.state_dict().items()))
    torch.testing.assert_close(weight, load_checkpoint(GENERALIST).model.state_dict()[name] + 0.5)
