"""Self-supervised training end to end: quality gain against the clean phantom, both inference
modes, 2D images, noise check (warning and --strict), inspect CLI, exact resume."""

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import typer
from typer.testing import CliRunner

from vemrestore import restore
from vemrestore.api import restore_sublattices
from vemrestore.cli import app
from vemrestore.cli.inspect import inspect_app
from vemrestore.cli.train import train_app
from vemrestore.config.training import TrainingConfig, with_self_supervised
from vemrestore.evaluation.metrics import volume_scores
from vemrestore.model_io.files import load_checkpoint
from vemrestore.training.run import train

runner = CliRunner()
cli = typer.Typer()  # mounted as the main CLI mounts them
cli.add_typer(train_app, name="train")
cli.add_typer(inspect_app, name="inspect")
SMALL_MODEL = {"name": "unet2p5d", "params": {"base_channels": 8, "depth": 2}}


pytestmark = pytest.mark.usefixtures("one_thread")


def _clean(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A smooth random phantom, float32 in 0.15..0.85."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fftn(rng.normal(size=shape))
    frequencies = np.meshgrid(*(np.fft.fftfreq(n) for n in shape), indexing="ij")
    radius2 = sum((f / w) ** 2 for f, w in zip(frequencies, (0.15, 0.06, 0.06), strict=True))
    field = np.real(np.fft.ifftn(spectrum * np.exp(-radius2)))
    return (0.15 + 0.7 * (field - field.min()) / (field.max() - field.min())).astype(np.float32)


def _noisy(clean: np.ndarray, seed: int = 1, photons: float = 20.0) -> np.ndarray:
    """Independent Poisson-Gaussian noise (about 16 dB PSNR at 20 photons), float32 in 0..1."""
    rng = np.random.default_rng(seed)
    noisy = rng.poisson(clean * photons) / photons + rng.normal(0.0, 0.02, clean.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def _settings(**changes) -> TrainingConfig:
    """A small, fast training config (no data yet)."""
    settings = {
        "model": SMALL_MODEL,
        "validation": {"axis": "x", "fraction": 0.25, "patches": 8},
        "patch_size": (32, 32),
        "optimizer": {"lr": 1e-3},
        "epochs": None,
        "steps": 1000,
        "steps_per_epoch": 50,
        "batch_size": 4,
        **changes,
    }
    return TrainingConfig(**settings)


def test_self_supervised_training_gains_3db_against_the_clean_phantom(tmp_path: Path) -> None:
    clean = _clean((16, 128, 128))
    noisy = _noisy(clean)
    tifffile.imwrite(tmp_path / "noisy.tif", noisy)
    config = with_self_supervised(_settings(), [str(tmp_path / "noisy.tif")])
    result = train(config, tmp_path / "run")
    before, _ = volume_scores(noisy, clean, 1.0)
    full, _ = volume_scores(restore(noisy, result.best), clean, 1.0)
    sub, _ = volume_scores(restore_sublattices(noisy, result.best), clean, 1.0)
    assert full - before >= 3.0, f"full-resolution gain {full - before:.2f} dB"
    assert sub - before >= 3.0, f"sub-lattice gain {sub - before:.2f} dB"
    checkpoint = load_checkpoint(result.best)
    assert checkpoint.metadata["task"] == "self_supervised"
    assert checkpoint.metadata["config"]["model"]["params"]["window"] == 1
    assert checkpoint.metadata["config"]["loss"] == "1*MSE"
    assert checkpoint.restoration.inference == "full"


def test_a_single_2d_image_trains_and_restores_through_the_cli(tmp_path: Path) -> None:
    image = (_noisy(_clean((1, 64, 64)))[0] * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "image.tif", image)
    args = ["train", "self-supervised", "--noisy", str(tmp_path / "image.tif")]
    sets = ["--set", "patch_size=[16,16]", "--set", "steps_per_epoch=2", "--set", "batch_size=2"]
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "run"), *sets, "--steps", "4"])
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    assert checkpoint.metadata["step"] == 4
    for volume in (image, image[None]):
        restored = restore(volume, checkpoint)
        assert restored.shape == volume.shape and restored.dtype == np.uint16
        assert restored.std() > 0
        assert restore_sublattices(volume, checkpoint).shape == volume.shape
    model = str(tmp_path / "run" / "last.pt")
    for mode, expected in (("--full", restore), ("--sublattice", restore_sublattices)):
        output = tmp_path / f"restored{mode}.tif"
        args = ["denoise", str(tmp_path / "image.tif"), str(output), "-m", model, mode, "-q"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        np.testing.assert_array_equal(tifffile.imread(output), expected(image, checkpoint))


@pytest.fixture
def patchy_volume(tmp_path: Path) -> Path:
    """Slices 10-15 have twice the noise of the others."""
    clean = _clean((24, 128, 128))
    rng = np.random.default_rng(5)
    sigma = np.full(24, 0.04, dtype=np.float32)
    sigma[10:16] = 0.08
    noisy = clean + rng.normal(size=clean.shape).astype(np.float32) * sigma[:, None, None]
    tifffile.imwrite(tmp_path / "patchy.tif", np.clip(noisy, 0, 1).astype(np.float32))
    return tmp_path / "patchy.tif"


def test_training_warns_about_non_uniform_noise_and_strict_refuses(
    patchy_volume: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = ["train", "self-supervised", "--noisy", str(patchy_volume), "--quiet"]
    sets = ["--set", "patch_size=[16,16]", "--set", "steps_per_epoch=2", "--steps", "2"]
    refused = runner.invoke(cli, [*args, "--out", str(tmp_path / "a"), *sets, "--strict"])
    assert refused.exit_code == 2
    assert "patchy.tif: noise is not uniform" in refused.output
    assert "outlier slices 10-15" in refused.output
    with caplog.at_level(logging.WARNING, logger="vemrestore.training.run"):
        warned = runner.invoke(cli, [*args, "--out", str(tmp_path / "b"), *sets])
    assert warned.exit_code == 0, warned.output
    assert any("noise is not uniform" in r.getMessage() for r in caplog.records)


def test_inspect_noise_cli_flags_outliers_and_writes_a_plot(
    patchy_volume: Path, tmp_path: Path
) -> None:
    plot = tmp_path / "plot.png"
    result = runner.invoke(cli, ["inspect", "noise", str(patchy_volume), "--plot", str(plot)])
    assert result.exit_code == 1
    assert "noise: outlier slices 10-15" in result.output and "NOT uniform" in result.output
    assert len(result.output.splitlines()) > 24 and plot.stat().st_size > 1000
    uniform = tmp_path / "uniform.tif"
    tifffile.imwrite(uniform, _noisy(_clean((12, 128, 128))))
    result = runner.invoke(cli, ["inspect", "noise", str(uniform), "--plot", str(plot)])
    assert result.exit_code == 2 and "already exists" in result.output  # the plot is kept
    result = runner.invoke(
        cli, ["inspect", "noise", str(uniform), "--plot", str(plot), "--overwrite"]
    )
    assert result.exit_code == 0 and "noise is uniform" in result.output
    missing = runner.invoke(cli, ["inspect", "noise", str(tmp_path / "none.tif")])
    assert missing.exit_code == 2 and "none.tif" in missing.output


def test_resume_reproduces_an_uninterrupted_self_supervised_run(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "noisy.tif", _noisy(_clean((12, 64, 64))))
    small = {"patch_size": (16, 16), "steps_per_epoch": 3, "batch_size": 2}
    (tmp_path / "c.yaml").write_text(_settings(**small).model_dump_json())
    args = ["train", "self-supervised", "--config", str(tmp_path / "c.yaml"), "--quiet"]
    args += ["--noisy", str(tmp_path / "noisy.tif")]
    whole = runner.invoke(cli, [*args, "--out", str(tmp_path / "whole"), "--steps", "12"])
    assert whole.exit_code == 0, whole.output
    part = runner.invoke(cli, [*args, "--out", str(tmp_path / "part"), "--steps", "6"])
    assert part.exit_code == 0, part.output
    again = ["train", "self-supervised", "--resume", str(tmp_path / "part"), "--quiet"]
    resumed = runner.invoke(cli, [*again, "--steps", "12"])
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "whole" / "last.pt").model.state_dict()
    b = load_checkpoint(tmp_path / "part" / "last.pt").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "part" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]


def test_config_defaults_and_cross_checks_of_self_supervised_training() -> None:
    config = with_self_supervised(TrainingConfig(), ["a.tif"]).resolved()
    assert config.model.params["window"] == 1 and config.loss == "1*MSE"
    assert TrainingConfig().resolved().loss == "1*L1+1*SSIM"
    assert config.self_supervised.inference == "full"
    with pytest.raises(ValueError, match="SSIM against a noisy"):
        with_self_supervised(TrainingConfig(loss="1*L1+1*SSIM"), ["a.tif"])
    with pytest.raises(ValueError, match="not pairs"):
        with_self_supervised(TrainingConfig(data={"folder": "pairs"}), ["a.tif"])
    with pytest.raises(ValueError, match="need self_supervised"):
        TrainingConfig(data={"noisy": ["a.tif"]})


def test_normalize_drift_flattens_brightness_drift_before_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clean = _clean((16, 128, 128))
    drift = np.linspace(0.0, 0.1, 16, dtype=np.float32)[:, None, None]
    tifffile.imwrite(tmp_path / "drift.tif", _noisy(clean * 0.8 + drift))
    args = ["train", "self-supervised", "--noisy", str(tmp_path / "drift.tif"), "--quiet"]
    sets = ["--set", "patch_size=[16,16]", "--set", "steps_per_epoch=2", "--steps", "2"]
    with caplog.at_level(logging.INFO, logger="vemrestore.training.run"):
        plain = runner.invoke(cli, [*args, "--out", str(tmp_path / "a"), *sets])
        assert plain.exit_code == 0, plain.output
        # Brightness drift is reported, but it is no noise change: no warning.
        assert any("mean: drifts" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if "not uniform" in r.getMessage()]
        caplog.clear()
        flat = runner.invoke(cli, [*args, "--out", str(tmp_path / "b"), *sets, "--normalize-drift"])
    assert flat.exit_code == 0, flat.output
    assert not [r for r in caplog.records if "not uniform" in r.getMessage()]
    assert load_checkpoint(tmp_path / "b" / "last.pt").metadata["config"]["self_supervised"][
        "normalize_drift"
    ]


def test_a_run_from_the_generalist_reports_which_model_it_keeps(tmp_path: Path) -> None:
    """Default network: the run starts from the generalist and SURE on the image decides
    whether best.pt holds the fine-tuned, the starting or mixed weights; the CLI says which."""
    image = (_noisy(_clean((1, 256, 256)), photons=30.0)[0] * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "image.tif", image)
    args = ["train", "self-supervised", "--noisy", str(tmp_path / "image.tif"), "--steps", "4"]
    sets = ["--set", "patch_size=[16,16]", "--set", "steps_per_epoch=2", "--set", "batch_size=2"]
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "run"), *sets])
    assert result.exit_code == 0, result.output
    assert "fine-tuning changed the error estimated on the volume itself (SURE" in result.output
    kept_start = "best.pt holds the starting model" in result.output
    kept_tuned = "best.pt holds the fine-tuned model" in result.output
    kept_mix = "best.pt holds the fine-tuned weights mixed" in result.output
    assert kept_start + kept_tuned + kept_mix == 1
    assert (tmp_path / "run" / "fine_tuned.pt").is_file() == (not kept_tuned)
    task = load_checkpoint(tmp_path / "run" / "best.pt").metadata["task"]
    assert task == ("synthetic" if kept_start else "self_supervised")


def test_blind_spot_training_sizes_its_boxes_from_the_volume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``method: blind_spot`` calibrates the noise of the volume, logs the box it chose and
    trains; the run restores like any self-supervised one."""
    image = (_noisy(_clean((1, 192, 192)), photons=30.0)[0] * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "image.tif", image)
    args = ["train", "self-supervised", "--noisy", str(tmp_path / "image.tif"), "--steps", "2"]
    sets = ["--set", "patch_size=[16,16]", "--set", "steps_per_epoch=2", "--set", "batch_size=2"]
    sets += [
        "--set",
        "self_supervised.method=blind_spot",
        "--set",
        "self_supervised.keep_start=false",
    ]
    with caplog.at_level(logging.INFO, logger="vemrestore"):
        result = runner.invoke(cli, [*args, "--out", str(tmp_path / "run"), *sets])
    assert result.exit_code == 0, result.output
    assert any("blind-spot boxes of" in r.getMessage() for r in caplog.records)
    assert load_checkpoint(tmp_path / "run" / "best.pt").metadata["task"] == "self_supervised"
