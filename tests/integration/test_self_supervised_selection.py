"""A self-supervised run keeps its starting model when SURE says fine-tuning made it worse."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from vemrestore.config.normalization import NormalizationConfig
from vemrestore.config.training import TrainingConfig, with_self_supervised
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import load_checkpoint
from vemrestore.models import create_model
from vemrestore.pretrained import GENERALIST
from vemrestore.simulate.family import ScanNoise, degrade
from vemrestore.training.run import FINE_TUNED, TrainResult, _keep_better_of_start
from vemrestore.training.selection import compare_with_start

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
