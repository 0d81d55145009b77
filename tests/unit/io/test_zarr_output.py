"""The resumable block-wise OME-Zarr output: metadata, markers, resume and refusal rules."""

import numpy as np
import pytest
import zarr

from vemrestore.errors import VemRestoreError
from vemrestore.io import VolumeSpec, open_volume
from vemrestore.io.zarr_output import BlockOutput

SPEC = VolumeSpec((5, 30, 20), np.dtype(np.uint16), (40.0, 8.0, 8.0))
SETTINGS = {"tile": (5, 64, 64), "model_sha256": "abc"}
PROVENANCE = {"model": {"name": "identity"}, "vemrestore_version": "0.1.0"}


def _prepare(path, settings=SETTINGS, overwrite=False) -> BlockOutput:
    return BlockOutput.prepare(path, SPEC, (2, 16, 16), settings, PROVENANCE, overwrite)


def test_new_output_is_an_incomplete_ome_zarr_with_provenance(tmp_path):
    output = _prepare(tmp_path / "out.zarr")
    attributes = dict(zarr.open_group(str(tmp_path / "out.zarr"), mode="r").attrs)
    assert attributes["vemrestore"]["incomplete"] is True
    assert attributes["vemrestore"]["provenance"] == PROVENANCE
    assert attributes["vemrestore"]["settings"]["tile"] == [5, 64, 64]
    assert attributes["ome"]["multiscales"][0]["datasets"][0]["path"] == "0"
    assert output.chunks == (2, 16, 16)
    assert output.finished_blocks() == set()


def test_write_markers_and_completion(tmp_path, make_volume):
    path = tmp_path / "out.zarr"
    output = _prepare(path)
    data = make_volume(np.uint16, SPEC.shape)
    output.write((slice(0, 5), slice(0, 16), slice(0, 20)), iter(data[:, :16]))
    output.mark_finished("z0-5_y0-16_x0-20")
    output.write((slice(0, 5), slice(16, 30), slice(0, 20)), iter(data[:, 16:]))
    assert output.finished_blocks() == {"z0-5_y0-16_x0-20"}
    with open_volume(path) as reader:  # readable while unfinished, markers ignored
        np.testing.assert_array_equal(reader.read(slice(None)), data)
    output.mark_complete()
    assert "incomplete" not in dict(zarr.open_group(str(path), mode="r").attrs)["vemrestore"]
    assert not (path / ".vemrestore").exists()
    with open_volume(path) as reader:
        assert reader.format == "ome-zarr" and reader.spec.voxel_size == (40.0, 8.0, 8.0)


def test_write_refuses_the_wrong_number_of_slices(tmp_path, make_volume):
    output = _prepare(tmp_path / "out.zarr")
    with pytest.raises(ValueError, match="announced 5"):
        output.write(
            (slice(0, 5), slice(0, 30), slice(0, 20)), iter(make_volume(np.uint16, SPEC.shape)[:3])
        )


def test_unfinished_output_with_the_same_settings_is_resumed(tmp_path):
    path = tmp_path / "out.zarr"
    _prepare(path).mark_finished("z0-5_y0-16_x0-20")
    assert _prepare(path).finished_blocks() == {"z0-5_y0-16_x0-20"}


def test_unfinished_output_with_other_settings_is_refused_until_overwrite(tmp_path):
    path = tmp_path / "out.zarr"
    _prepare(path).mark_finished("z0-5_y0-16_x0-20")
    changed = {**SETTINGS, "tile": (3, 64, 64)}
    with pytest.raises(
        VemRestoreError, match=r"out.zarr: .*different settings \(tile\).*--overwrite"
    ):
        _prepare(path, changed)
    assert _prepare(path, changed, overwrite=True).finished_blocks() == set()


def test_finished_or_foreign_output_needs_overwrite(tmp_path):
    path = tmp_path / "out.zarr"
    _prepare(path).mark_complete()
    with pytest.raises(VemRestoreError, match="already exists.*--overwrite"):
        _prepare(path)
    foreign = tmp_path / "foreign.zarr"
    foreign.mkdir()
    with pytest.raises(VemRestoreError, match="foreign.zarr: output already exists"):
        _prepare(foreign)
    assert _prepare(foreign, overwrite=True).finished_blocks() == set()


def test_missing_parent_folder(tmp_path):
    with pytest.raises(VemRestoreError, match="does not exist"):
        _prepare(tmp_path / "no" / "out.zarr")
