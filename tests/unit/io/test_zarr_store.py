"""Zarr and OME-Zarr: round trips, hand-written v0.4/v0.5 metadata, array choice, chunking."""

import numpy as np
import pytest
import zarr

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import VolumeSpec
from vemrestore.io.zarr_store import ZarrReader, write_ome_zarr

VOXEL = (25.0, 4.0, 4.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_ome_zarr_round_trip_is_bit_exact_and_keeps_voxel_size(tmp_path, make_volume, dtype):
    data = make_volume(dtype, shape=(11, 24, 32))
    path = tmp_path / "vol.zarr"
    write_ome_zarr(path, iter(data), VolumeSpec(data.shape, data.dtype, VOXEL))
    with ZarrReader(path) as reader:
        assert reader.format == "ome-zarr"
        assert reader.spec == VolumeSpec(data.shape, np.dtype(dtype), VOXEL)
        assert reader.chunks == (8, 24, 32)  # default (8, 512, 512) clipped to the shape
        np.testing.assert_array_equal(reader.read(slice(None)), data)
        np.testing.assert_array_equal(
            reader.read(slice(3, 10), slice(5, 20), slice(1, 2)), data[3:10, 5:20, 1:2]
        )


def test_written_metadata_is_ome_zarr_0_5(tmp_path, make_volume):
    data = make_volume(np.uint8, shape=(3, 4, 5))
    spec = VolumeSpec(data.shape, data.dtype, (30.0, 5.0, 5.0))
    write_ome_zarr(tmp_path / "vol.zarr", iter(data), spec)
    group = zarr.open_group(tmp_path / "vol.zarr", mode="r")
    assert group.metadata.zarr_format == 3
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    (multiscale,) = ome["multiscales"]
    assert multiscale["axes"] == [
        {"name": axis, "type": "space", "unit": "nanometer"} for axis in "zyx"
    ]
    (dataset,) = multiscale["datasets"]
    assert dataset == {
        "path": "0",
        "coordinateTransformations": [{"type": "scale", "scale": [30.0, 5.0, 5.0]}],
    }
    assert group["0"].metadata.dimension_names == ("z", "y", "x")
    assert group["0"].compressors  # the zarr default codec, not raw bytes


def test_writer_fills_whole_z_chunks_without_reading_back(tmp_path, make_volume, monkeypatch):
    writes, reads = [], []
    original_set, original_get = zarr.Array.__setitem__, zarr.Array.__getitem__

    def record_set(self, selection, value):
        writes.append((selection.start, selection.stop))
        original_set(self, selection, value)

    def record_get(self, selection):
        reads.append(selection)
        return original_get(self, selection)

    monkeypatch.setattr(zarr.Array, "__setitem__", record_set)
    monkeypatch.setattr(zarr.Array, "__getitem__", record_get)
    data = make_volume(np.uint16, shape=(10, 9, 7))
    write_ome_zarr(
        tmp_path / "vol.zarr", iter(data), VolumeSpec(data.shape, data.dtype), chunks=(4, 4, 4)
    )
    assert writes == [(0, 4), (4, 8), (8, 10)] and not reads
    monkeypatch.undo()
    with ZarrReader(tmp_path / "vol.zarr") as reader:
        assert reader.chunks == (4, 4, 4)
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_plain_array_store(tmp_path, make_volume):
    data = make_volume(np.float32)
    zarr.create_array(tmp_path / "plain.zarr", data=data, chunks=(2, 8, 8))
    with ZarrReader(tmp_path / "plain.zarr") as reader:
        assert reader.format == "zarr" and reader.spec.voxel_size is None
        assert reader.chunks == (2, 8, 8)
        np.testing.assert_array_equal(reader.read(slice(1, 4), slice(2, 9)), data[1:4, 2:9])
    with pytest.raises(VemRestoreError, match="plain.zarr: is a single array, not a group"):
        ZarrReader(tmp_path / "plain.zarr", array="raw")


def test_2d_array_is_one_slice(tmp_path, make_volume):
    image = make_volume(np.uint8, shape=(1, 6, 7))[0]
    zarr.create_array(tmp_path / "image.zarr", data=image)
    with ZarrReader(tmp_path / "image.zarr") as reader:
        assert reader.shape == (1, 6, 7) and reader.chunks[0] == 1
        np.testing.assert_array_equal(reader.read(slice(0, 1), slice(2, 5))[0], image[2:5])


def test_ome_zarr_0_4_with_singleton_t_and_c_axes(tmp_path, make_volume):
    """A zarr v2 store as bioformats2raw writes it: tczyx, micrometres, two resolution levels."""
    full, half = make_volume(np.uint16, shape=(4, 8, 10)), make_volume(np.uint16, shape=(2, 4, 5))
    group = zarr.open_group(tmp_path / "v04.zarr", mode="w", zarr_format=2)
    axes = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"}] + [
        {"name": axis, "type": "space", "unit": "micrometer"} for axis in "zyx"
    ]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": axes,
            "datasets": [
                {"path": level, "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                for level, scale in [
                    ("s0", [1, 1, 0.05, 0.01, 0.01]),
                    ("s1", [1, 1, 0.1, 0.02, 0.02]),
                ]
            ],
        }
    ]
    group.create_array("s0", shape=(1, 1, *full.shape), dtype=full.dtype)[:] = full[None, None]
    group.create_array("s1", shape=(1, 1, *half.shape), dtype=half.dtype)[:] = half[None, None]
    with ZarrReader(tmp_path / "v04.zarr") as reader:
        assert reader.format == "ome-zarr" and reader.shape == full.shape
        np.testing.assert_allclose(reader.spec.voxel_size, (50.0, 10.0, 10.0))
        np.testing.assert_array_equal(reader.read(slice(1, 3)), full[1:3])
    with ZarrReader(tmp_path / "v04.zarr", array="s1") as reader:
        np.testing.assert_allclose(reader.spec.voxel_size, (100.0, 20.0, 20.0))
        np.testing.assert_array_equal(reader.read(slice(None)), half)


def test_ome_zarr_0_5_with_a_multiscale_wide_scale(tmp_path, make_volume):
    data = make_volume(np.uint8, shape=(3, 6, 6))
    group = zarr.open_group(tmp_path / "v05.zarr", mode="w", zarr_format=3)
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [{"name": axis, "type": "space", "unit": "nanometer"} for axis in "zyx"],
                "datasets": [
                    {
                        "path": "scale0/image",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [10.0, 2.0, 2.0]},
                            {"type": "translation", "translation": [0, 5, 5]},
                        ],
                    }
                ],
                "coordinateTransformations": [{"type": "scale", "scale": [3.0, 1.0, 1.0]}],
            }
        ],
    }
    group.create_group("scale0").create_array("image", data=data)
    group.create_array("labels", data=np.zeros_like(data))
    with ZarrReader(tmp_path / "v05.zarr") as reader:
        assert reader.spec.voxel_size == (30.0, 2.0, 2.0)
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_ome_zarr_naming_a_missing_dataset_is_refused(tmp_path):
    group = zarr.open_group(tmp_path / "broken.zarr", mode="w")
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"datasets": [{"path": "0"}]}]}
    group.create_array("1", shape=(2, 2, 2), dtype="uint8")
    with pytest.raises(VemRestoreError, match=r"broken.zarr: .*dataset '0'.*available: 1\)"):
        ZarrReader(tmp_path / "broken.zarr")


@pytest.fixture
def two_array_group(tmp_path, make_volume):
    group = zarr.open_group(tmp_path / "group.zarr", mode="w")
    raw, mask = make_volume(np.uint8, shape=(2, 5, 5)), make_volume(np.uint16, shape=(3, 4, 4))
    group.create_array("raw", data=raw)
    group.create_group("derived").create_array("mask", data=mask)
    return tmp_path / "group.zarr", raw, mask


def test_group_with_several_arrays_is_ambiguous(two_array_group):
    path, _, _ = two_array_group
    with pytest.raises(VemRestoreError) as caught:
        ZarrReader(path)
    assert str(caught.value) == (
        f"{path}: the Zarr group contains several arrays (derived/mask, raw); "
        "choose one with --array"
    )


def test_named_array_is_selected(two_array_group):
    path, raw, mask = two_array_group
    with ZarrReader(path, array="derived/mask") as reader:
        assert reader.format == "zarr"
        np.testing.assert_array_equal(reader.read(slice(None)), mask)
    with ZarrReader(path, array="raw") as reader:
        np.testing.assert_array_equal(reader.read(slice(None)), raw)


def test_missing_named_array_lists_the_available_ones(two_array_group):
    path, _, _ = two_array_group
    expected = r"no array named 'labels' \(available: derived/mask, raw\)"
    with pytest.raises(VemRestoreError, match=expected):
        ZarrReader(path, array="labels")


def test_group_with_one_array_reads_it(tmp_path, make_volume):
    data = make_volume(np.uint16, shape=(2, 3, 4))
    zarr.open_group(tmp_path / "one.zarr", mode="w").create_array("volume", data=data)
    with ZarrReader(tmp_path / "one.zarr") as reader:
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_empty_group_and_non_zarr_folder_are_refused(tmp_path):
    zarr.open_group(tmp_path / "nothing.zarr", mode="w")
    with pytest.raises(VemRestoreError, match="nothing.zarr: the Zarr group contains no arrays"):
        ZarrReader(tmp_path / "nothing.zarr")
    (tmp_path / "fake.zarr").mkdir()
    with pytest.raises(VemRestoreError, match="fake.zarr: not a readable Zarr store"):
        ZarrReader(tmp_path / "fake.zarr")


@pytest.mark.parametrize(
    ("unit", "scale"),
    [("pixel", [1.0, 1.0, 1.0]), ("nanometer", ["a", "b", "c"]), ("nanometer", [1.0, 1.0])],
)
def test_unusable_ome_scale_gives_unknown_voxel_size(tmp_path, unit, scale):
    group = zarr.open_group(tmp_path / "odd.zarr", mode="w")
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [{"name": axis, "type": "space", "unit": unit} for axis in "zyx"],
                "datasets": [
                    {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                ],
            }
        ],
    }
    group.create_array("0", shape=(2, 3, 4), dtype="uint8")
    with ZarrReader(tmp_path / "odd.zarr") as reader:
        assert reader.format == "ome-zarr" and reader.spec.voxel_size is None
