"""Supervised training end to end: quality gain, run outputs, CLI, exact resume, DDP."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from lightning import Callback
from typer.testing import CliRunner

from vemrestore.cli.train import config_app, train_app
from vemrestore.config.training import TrainingConfig
from vemrestore.config.training_yaml import load_training_config
from vemrestore.model_io.files import load_checkpoint
from vemrestore.training.run import train

runner = CliRunner()
cli = typer.Typer()  # mounted as the main CLI mounts it
cli.add_typer(train_app, name="train")
cli.add_typer(config_app, name="config")
SMALL_MODEL = {"name": "unet2p5d", "params": {"base_channels": 8, "depth": 2}}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def pair_folder(make_pair_folder) -> Path:
    return make_pair_folder((16, 128, 128))


def _config(folder: Path, **changes) -> TrainingConfig:
    settings = {
        "model": SMALL_MODEL,
        "data": {"folder": str(folder)},
        "validation": {"axis": "x", "fraction": 0.25, "patches": 8},
        "patch_size": (64, 64),
        "optimizer": {"lr": 1e-3},
        "epochs": None,
        "steps": 400,
        "steps_per_epoch": 20,
        "batch_size": 4,
        **changes,
    }
    return TrainingConfig(**settings)


def test_training_gains_3db_and_writes_a_complete_run(pair_folder: Path, tmp_path: Path) -> None:
    result = train(_config(pair_folder), tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert len(rows) == 20
    gain = max(float(r["val_psnr"]) for r in rows) - float(rows[0]["input_psnr"])
    assert gain >= 3.0, f"validation PSNR gain {gain:.2f} dB"
    assert result.best_psnr == pytest.approx(max(float(r["val_psnr"]) for r in rows))
    best = load_checkpoint(result.best)
    assert best.metadata["val_psnr"] == pytest.approx(result.best_psnr)
    assert best.metadata["config"]["model"]["params"] == {"window": 1, **SMALL_MODEL["params"]}
    assert best.metadata["vemrestore_version"]
    assert load_checkpoint(result.last).metadata["step"] == 400
    assert load_training_config(tmp_path / "run" / "config.yaml").steps == 400
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "run" / "last.ckpt").is_file()


def test_resume_reproduces_an_uninterrupted_run(pair_folder: Path, tmp_path: Path) -> None:
    small = {"patch_size": (32, 32), "steps_per_epoch": 3, "batch_size": 2, "augment": True}
    (tmp_path / "c.yaml").write_text(_config(pair_folder, **small).model_dump_json())
    args = ["supervised", "--config", str(tmp_path / "c.yaml"), "--quiet"]
    whole = runner.invoke(cli, ["train", *args, "--out", str(tmp_path / "whole"), "--steps", "12"])
    assert whole.exit_code == 0, whole.output
    part = runner.invoke(cli, ["train", *args, "--out", str(tmp_path / "part"), "--steps", "6"])
    assert part.exit_code == 0, part.output
    resumed = runner.invoke(
        cli, ["train", "supervised", "--resume", str(tmp_path / "part"), "--steps", "12", "--quiet"]
    )
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "whole" / "last.pt").model.state_dict()
    b = load_checkpoint(tmp_path / "part" / "last.pt").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "part" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]


def test_cli_refuses_bad_input_in_one_line(pair_folder: Path, tmp_path: Path) -> None:
    fast = pair_folder / "a_fast.tif"
    result = runner.invoke(
        cli, ["train", "supervised", "--fast", str(fast), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "--slow" in result.output
    result = runner.invoke(
        cli,
        [
            "train",
            "supervised",
            "--fast",
            str(fast),
            "--slow",
            str(fast),
            "--out",
            str(tmp_path / "r"),
            "--set",
            "batch_size=0",
        ],
    )
    assert result.exit_code == 2 and "batch_size" in result.output
    assert runner.invoke(cli, ["config", "init", str(tmp_path / "t.yaml")]).exit_code == 0
    assert load_training_config(tmp_path / "t.yaml").resolved() == TrainingConfig().resolved()
    assert runner.invoke(cli, ["config", "init", str(tmp_path / "t.yaml")]).exit_code == 2


class SaveRankWeights(Callback):
    """Each DDP rank saves its final weights, to compare them afterwards."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save(pl_module.model.state_dict(), self.folder / f"rank{trainer.global_rank}.pt")


def test_ddp_on_two_cpu_processes_keeps_ranks_equal(pair_folder: Path, tmp_path: Path) -> None:
    config = _config(
        pair_folder,
        patch_size=(32, 32),
        steps=None,
        epochs=1,
        steps_per_epoch=3,
        batch_size=2,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
    )
    result = train(config, tmp_path / "run", callbacks=[SaveRankWeights(tmp_path)])
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    start = load_checkpoint(result.last).model.state_dict()
    assert all(torch.equal(start[k], ranks[0][k]) for k in start)
    assert result.steps == 3 and np.isfinite(result.best_psnr)
