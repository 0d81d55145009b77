"""No user data is ever deleted: an output never is, holds or lies inside its input, and
``--overwrite`` replaces only a file or a previous vemrestore output, in every format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from typer.testing import CliRunner

from vemrestore.api import restore_blocks, restore_file
from vemrestore.cli import app
from vemrestore.config import DistributedConfig, NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model

runner = CliRunner()
DATA = (np.arange(4 * 16 * 16) % 251).astype(np.uint8).reshape(4, 16, 16)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "identity.pt"
    save_checkpoint(path, create_model("identity", window=1), NormalizationConfig())
    return path


def denoise(*args: object):
    return runner.invoke(app, ["denoise", *(str(a) for a in args), "-q"])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_output_folder_holding_the_input_is_refused_and_nothing_is_lost(tmp_path, model):
    scans = tmp_path / "s"
    scans.mkdir()
    tifffile.imwrite(scans / "a.tif", DATA, photometric="minisblack")
    tifffile.imwrite(scans / "b.tif", DATA[::-1], photometric="minisblack")
    (scans / "notes.txt").write_text("beam current 1.2 nA")
    before = snapshot(scans)
    result = denoise(scans / "a.tif", scans, "--model", model, "--overwrite")
    assert result.exit_code == 2 and "is, holds or lies inside the input" in result.output
    assert result.output.count("\n") == 1
    assert snapshot(scans) == before


def test_input_array_inside_the_output_store_is_refused_and_the_store_kept(tmp_path, model):
    store = tmp_path / "st.zarr"
    group = zarr.open_group(str(store), mode="w")
    group.create_array("raw", data=DATA, chunks=(2, 16, 16))
    before = snapshot(store)
    result = denoise(store / "raw", store, "--model", model, "--overwrite")
    assert result.exit_code == 2 and "is, holds or lies inside the input" in result.output
    assert snapshot(store) == before


def test_output_equal_to_the_input_is_refused_with_overwrite(tmp_path, model):
    scan = tmp_path / "x.tif"
    tifffile.imwrite(scan, DATA, photometric="minisblack")
    before = scan.read_bytes()
    result = denoise(scan, scan, "--model", model, "--overwrite")
    assert result.exit_code == 2 and "is, holds or lies inside the input" in result.output
    assert scan.read_bytes() == before


def test_symlinks_and_hard_links_to_the_input_are_refused(tmp_path, model):
    scan = tmp_path / "x.tif"
    tifffile.imwrite(scan, DATA, photometric="minisblack")
    before = scan.read_bytes()
    (tmp_path / "link.tif").symlink_to(scan)
    os.link(scan, tmp_path / "hard.tif")
    for output in ("link.tif", "hard.tif"):
        with pytest.raises(VemRestoreError, match="is, holds or lies inside the input"):
            restore_file(scan, tmp_path / output, model, overwrite=True)
    alias = tmp_path / "alias"
    alias.symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(VemRestoreError, match="is, holds or lies inside the input"):
        restore_file(scan, alias, model, overwrite=True)  # a slice folder holding the input
    assert scan.read_bytes() == before


def test_block_runs_refuse_an_output_holding_or_inside_the_input(tmp_path, model):
    store = tmp_path / "st.zarr"
    zarr.open_group(str(store), mode="w").create_array("raw", data=DATA, chunks=(2, 16, 16))
    before = snapshot(store)
    local = DistributedConfig(workers=1)
    for output in (store, store / "raw" / "out.zarr"):
        with pytest.raises(VemRestoreError, match="is, holds or lies inside the input"):
            restore_blocks(store, output, model, array="raw", distributed=local, overwrite=True)
    assert snapshot(store) == before


@pytest.mark.parametrize("output", ["out.tif", "out.zarr", "out"])
def test_overwrite_replaces_only_our_own_outputs(tmp_path, model, output):
    scan = tmp_path / "x.tif"
    tifffile.imwrite(scan, DATA, photometric="minisblack")
    target = tmp_path / output
    assert restore_file(scan, target, model) == target
    restore_file(scan, target, model, overwrite=True)  # a previous vemrestore output: replaced

    foreign = tmp_path / f"foreign-{output}"
    if target.is_dir():
        foreign.mkdir()
        (foreign / "thesis.docx").write_bytes(b"years of work")
        with pytest.raises(VemRestoreError, match="replaces only a file or a folder vemrestore"):
            restore_file(scan, foreign, model, overwrite=True)
        assert (foreign / "thesis.docx").read_bytes() == b"years of work"
    else:
        foreign.write_bytes(b"old file")  # a single file is replaced: it is what was named
        restore_file(scan, foreign, model, overwrite=True)
        np.testing.assert_array_equal(tifffile.imread(foreign), DATA)


def test_block_overwrite_refuses_a_foreign_folder(tmp_path, model):
    scan = tmp_path / "x.zarr"
    zarr.open_array(str(scan), mode="w", shape=DATA.shape, dtype=DATA.dtype)[:] = DATA
    foreign = tmp_path / "other.zarr"
    foreign.mkdir()
    (foreign / "labels.csv").write_text("1,2,3")
    with pytest.raises(VemRestoreError, match="replaces only a file or a folder vemrestore"):
        restore_blocks(
            scan, foreign, model, distributed=DistributedConfig(workers=1), overwrite=True
        )
    assert (foreign / "labels.csv").read_text() == "1,2,3"


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path, model):
    scan = tmp_path / "x.tif"
    tifffile.imwrite(scan, DATA, photometric="minisblack")
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".out.tif.vemrestore-tmp-{dead}"
    stale.write_bytes(b"half")
    alive = tmp_path / f".out.tif.vemrestore-tmp-{os.getpid()}x"  # not a pid suffix: kept
    alive.write_bytes(b"other")
    restore_file(scan, tmp_path / "out.tif", model)
    assert not stale.exists() and alive.exists()
