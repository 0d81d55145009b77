"""A quiet, consistent command line: readable help, one spelling per option, and a training
run whose stderr holds only the command's own lines."""

import subprocess
import sys
from pathlib import Path

import pytest
import tifffile

from vemrestore.cli import command


def _commands(node, path=()):
    yield path
    for name, child in getattr(node, "commands", {}).items():
        yield from _commands(child, (*path, name))


def _help(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        command().main([*args, "--help"], prog_name="vemrestore")
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_no_help_shows_python_type_names(capsys) -> None:
    paths = list(_commands(command()))
    assert len(paths) > 10
    for path in paths:
        text = _help(list(path), capsys)
        for fragment in ("list[", "<bool>", "<path>", "<int>", "<str>", "<float>", "x>="):
            assert fragment not in text, f"vemrestore {' '.join(path)} --help shows {fragment}"


def test_output_overwrite_quiet_spelled_alike(capsys) -> None:
    writers = {("train", "supervised"), ("train", "self-supervised"), ("evaluate",), ("plan",)}
    writers |= {("simulate",), ("calibrate",), ("denoise",)}
    for path in writers:
        text = _help(list(path), capsys)
        assert "--output" in text and "-o " in text, path
        assert "--overwrite" in text or path[0] == "train", path
        assert "--out " not in text and "--force" not in text, path
    for path in (("denoise",), ("plan",), ("train", "supervised"), ("evaluate",)):
        assert "--threads" in _help(list(path), capsys)
    for path in (("denoise",), ("plan",), ("train", "supervised")):
        assert "--quiet" in _help(list(path), capsys) and "-q" in _help(list(path), capsys)


def test_version(capsys) -> None:
    with pytest.raises(SystemExit):
        command().main(["--version"], prog_name="vemrestore")
    assert capsys.readouterr().out.startswith("vemrestore ")


@pytest.fixture
def pair(tmp_path: Path, phantom_pair) -> tuple[Path, Path]:
    fast, slow = phantom_pair((3, 96, 96), seed=2)
    paths = tmp_path / "fast.tif", tmp_path / "slow.tif"
    for path, volume in zip(paths, (fast, slow), strict=True):
        tifffile.imwrite(path, volume, photometric="minisblack")
    return paths


def _train(pair, out: Path, *extra: str) -> subprocess.CompletedProcess:
    fast, slow = pair
    args = ["--fast", fast, "--slow", slow, "-o", out, "--steps", "2", "--threads", "1"]
    sets = ["--set", "steps_per_epoch=1", "--set", "batch_size=1", "--set", "validation.patches=1"]
    return subprocess.run(
        [sys.executable, "-m", "vemrestore", "train", "supervised", *map(str, args), *sets, *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_training_run_writes_only_its_own_lines_to_stderr(pair, tmp_path: Path) -> None:
    quiet = _train(pair, tmp_path / "quiet", "-q")
    assert quiet.returncode == 0, quiet.stderr
    # -q: nothing but vemrestore's own warnings (e.g. a model that does not beat its input)
    assert all(line.startswith("warning: ") for line in quiet.stderr.splitlines()), quiet.stderr
    assert "best validation PSNR" in quiet.stdout and "(input " in quiet.stdout
    loud = _train(pair, tmp_path / "loud")
    assert loud.returncode == 0, loud.stderr
    for chatter in ("GPU available", "Tip", "litlogger", "deprecated", "weights_only", "Epoch"):
        assert chatter not in loud.stderr, loud.stderr
    assert "training" in loud.stderr and "/2 " in loud.stderr  # one bar over the 2-step budget


def test_the_python_api_trains_without_library_chatter(pair, tmp_path: Path) -> None:
    """``training.run.train`` behaves as the CLI: no Lightning banners, tips or warnings."""
    fast, slow = pair
    script = f"""
from vemrestore.config.training import TrainingConfig
from vemrestore.training.run import train
config = TrainingConfig(
    data={{"pairs": [{{"fast": {str(fast)!r}, "slow": {str(slow)!r}}}]}},
    steps=2, steps_per_epoch=1, batch_size=1, validation={{"patches": 1}},
)
train(config, {str(tmp_path / "run")!r}, from_scratch=True)
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    for chatter in ("GPU available", "Tip", "litlogger", "deprecated", "weights_only", "Epoch"):
        assert chatter not in run.stderr, run.stderr
