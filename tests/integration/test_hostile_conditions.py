"""Hostile conditions and absurd options: one clear line and the right exit code, quickly,
with bounded memory, and no option that is silently ignored or produces nonsense."""

from __future__ import annotations

import errno
import os
import signal
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import typer
from typer.testing import CliRunner

from vemrestore.cli import app
from vemrestore.cli.errors import DEBUG_ENV, user_errors
from vemrestore.config import NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.io import open_volume
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import load_checkpoint
from vemrestore.models import create_model

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def exit_code_of(error: BaseException, capsys) -> tuple[int, str]:
    with pytest.raises(typer.Exit) as raised, user_errors():
        raise error
    return raised.value.exit_code, capsys.readouterr().err


def test_machine_conditions_are_one_line_with_exit_2(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    code, err = exit_code_of(OSError(errno.ENOSPC, "No space left", "out.tif"), capsys)
    assert code == 2 and err == "error: out.tif: the disk is full; free space or write elsewhere\n"
    code, err = exit_code_of(PermissionError(errno.EACCES, "denied", "/ro/out.zarr"), capsys)
    assert code == 2 and err.startswith("error: /ro/out.zarr: permission denied")
    code, err = exit_code_of(OSError(errno.ELOOP, "loop", "st.zarr"), capsys)
    assert code == 2 and "symbolic link loops" in err
    code, err = exit_code_of(MemoryError(), capsys)
    assert code == 2 and err.startswith("error: out of memory")


def test_unexpected_errors_are_one_line_pointing_to_debug(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    code, err = exit_code_of(RuntimeError("boom\nsecond line"), capsys)
    assert code == 1 and err.count("\n") == 1
    assert "unexpected RuntimeError: boom second line" in err and "rerun with --debug" in err
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(RuntimeError, match="boom"), user_errors():
        raise RuntimeError("boom")


def test_ctrl_c_and_sigterm_exit_130_and_143(capsys):
    code, err = exit_code_of(KeyboardInterrupt(), capsys)
    assert code == 130 and "Traceback" not in err
    with pytest.raises(typer.Exit) as raised, user_errors():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
    assert raised.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored afterwards


def test_debug_flag_exists_on_the_root_command():
    assert invoke("--debug", "info", "/no/such.tif").exit_code == 2


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    path = tmp_path / "scan.tif"
    data = (np.arange(6 * 32 * 32) % 200).astype(np.uint8).reshape(6, 32, 32)
    tifffile.imwrite(path, data, photometric="minisblack")
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "identity.pt"
    save_checkpoint(path, create_model("identity", window=1), NormalizationConfig())
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["denoise", "{scan}", "{tmp}/o.tif", "-m", "{model}", "--key-slices", "0"], "period 0"),
        (["simulate", "{scan}", "--speedup", "inf", "-o", "{tmp}/s.tif"], ">= 1 and finite"),
        (["evaluate", "{scan}", "--reference", "{scan}", "--data-range", "0"], "finite number"),
        (["evaluate", "{scan}", "--reference", "{scan}", "--data-range", "-5"], "finite number"),
        (["inspect", "noise", "{scan}", "--tolerance", "nan"], "finite number > 0"),
        (["inspect", "noise", "{scan}", "--plot", "{tmp}/p.jpg"], "name it *.png"),
        (
            [
                "denoise",
                "{scan}",
                "{tmp}/o.zarr",
                "-m",
                "{model}",
                "--memory-per-worker",
                "1000TiB",
            ],
            "more than this machine",
        ),
        (
            ["denoise", "{scan}", "{tmp}/o.tif", "-m", "{model}", "--tile", "1,100000,100000"],
            "limit",
        ),
    ],
)
def test_nonsense_options_are_refused(tmp_path, scan, model, args, message):
    values = {"scan": scan, "model": model, "tmp": tmp_path}
    result = invoke(*(a.format(**values) for a in args))
    assert result.exit_code == 2, result.output
    # one error line, the last; denoise may first have said which model and device it uses
    lines = result.output.splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert message in lines[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity.pt", "scan.tif"]


def test_an_existing_plot_is_kept_without_overwrite(tmp_path, scan):
    plot = tmp_path / "p.png"
    plot.write_bytes(b"mine")
    result = invoke("inspect", "noise", scan, "--plot", plot)
    assert result.exit_code == 2 and "already exists" in result.output
    assert plot.read_bytes() == b"mine"


@pytest.mark.parametrize(
    "names, problem",
    [(["s0", "s1", "s3", "s4"], "jump from 1"), (["s1", "s01", "s2"], "both number slice 1")],
)
def test_slice_folders_with_gaps_or_duplicates_are_refused_unless_allowed(tmp_path, names, problem):
    folder = tmp_path / "slices"
    folder.mkdir()
    for name in names:
        tifffile.imwrite(folder / f"{name}.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(VemRestoreError, match=problem):
        open_volume(folder)
    with open_volume(folder, allow_gaps=True) as reader:
        assert reader.shape == (len(names), 8, 8)
    result = invoke("info", folder)
    assert result.exit_code == 2 and "--allow-gaps" in result.output
    assert invoke("info", folder, "--allow-gaps").exit_code == 0


def test_memory_bomb_tiff_header_is_refused_quickly_with_bounded_memory(tmp_path):
    path = tmp_path / "bomb.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), compression="zlib")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        for name in ("ImageWidth", "ImageLength", "RowsPerStrip"):
            tag = tags[name]
            width = 2 if tag.dtype == 3 else 4  # SHORT or LONG
            data[tag.valueoffset : tag.valueoffset + width] = (60000).to_bytes(width, "little")
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with pytest.raises(VemRestoreError, match="limit"):
            with open_volume(path) as reader:
                reader.read(slice(None))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


def test_checkpoint_with_an_absurd_window_is_refused_before_allocating(tmp_path):
    path = tmp_path / "bomb.pt"
    payload = {
        "format": "vemrestore-checkpoint",
        "format_version": 1,
        "model_name": "unet2p5d",
        "model_params": {"window": 10_000_000},
        "state_dict": {},
        "normalization": {},
    }
    torch.save(payload, path)
    tracemalloc.start()
    try:
        with pytest.raises(VemRestoreError, match="window must be in 1..256"):
            load_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
