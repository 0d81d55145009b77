"""TIFF reading (memory-mapped and page by page), streamed writing, calibration and bad files."""

import os
import tracemalloc

import numpy as np
import pytest
import tifffile

from vemrestore.errors import VemRestoreError
from vemrestore.io import tiff
from vemrestore.io.base import VolumeSpec, checked_slices, nm_per_unit
from vemrestore.io.tiff import TiffReader, needs_bigtiff, write_tiff

DTYPES = [np.uint8, np.uint16, np.float32]
VOXEL = (30.0, 4.7, 5.25)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_is_bit_exact_and_keeps_voxel_size(tmp_path, make_volume, dtype):
    data = make_volume(dtype)
    path = tmp_path / "vol.tif"
    write_tiff(path, iter(data), VolumeSpec(data.shape, data.dtype, VOXEL))
    with TiffReader(path) as reader:
        assert reader.memory_mapped
        assert reader.spec == VolumeSpec(data.shape, np.dtype(dtype), VOXEL)
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_written_file_is_an_imagej_hyperstack_fiji_can_calibrate(tmp_path, make_volume):
    data = make_volume(np.uint8)
    path = tmp_path / "vol.tif"
    write_tiff(path, iter(data), VolumeSpec(data.shape, data.dtype, VOXEL))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and not tif.is_bigtiff
        assert tif.imagej_metadata["unit"] == "nm"
        assert tif.imagej_metadata["spacing"] == 30.0
        assert tif.imagej_metadata["slices"] == data.shape[0]
        numerator, denominator = tif.pages.first.tags["XResolution"].value  # pixels per nm
        assert numerator / denominator == pytest.approx(1 / 5.25)


def test_unknown_voxel_size_stays_unknown(tmp_path, make_volume):
    data = make_volume(np.uint16)
    write_tiff(tmp_path / "vol.tif", iter(data), VolumeSpec(data.shape, data.dtype))
    with TiffReader(tmp_path / "vol.tif") as reader:
        assert reader.spec.voxel_size is None


def test_large_volume_is_written_as_bigtiff_with_voxel_size(tmp_path, make_volume, monkeypatch):
    monkeypatch.setattr(tiff, "needs_bigtiff", lambda spec: True)
    data = make_volume(np.float32)
    path = tmp_path / "big.tif"
    write_tiff(path, iter(data), VolumeSpec(data.shape, data.dtype, VOXEL))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and not tif.is_imagej
        assert tif.pages.first.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
    with TiffReader(path) as reader:
        assert reader.memory_mapped
        assert reader.spec.voxel_size == VOXEL
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_bigtiff_is_chosen_only_when_a_classic_tiff_cannot_hold_the_volume():
    assert not needs_bigtiff(VolumeSpec((10, 64, 64), np.dtype(np.uint8)))
    assert not needs_bigtiff(VolumeSpec((1000, 2048, 2048), np.dtype(np.uint8)))  # 3.9 GiB
    assert needs_bigtiff(VolumeSpec((1024, 2048, 2048), np.dtype(np.uint8)))  # exactly 4 GiB
    assert needs_bigtiff(VolumeSpec((300, 2048, 2048), np.dtype(np.float32)))  # 4.7 GiB


def test_writer_streams_one_slice_at_a_time(tmp_path):
    depth, height, width = 24, 512, 512  # 24 MiB in total, 1 MiB per slice
    spec = VolumeSpec((depth, height, width), np.dtype(np.float32))
    slices = (np.full((height, width), z, np.float32) for z in range(depth))
    tracemalloc.start()
    try:
        write_tiff(tmp_path / "vol.tif", slices, spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * 2**20
    with TiffReader(tmp_path / "vol.tif") as reader:
        np.testing.assert_array_equal(reader.read(slice(20, 22))[:, 0, 0], [20, 21])


@pytest.mark.parametrize(
    ("count", "shape", "dtype", "problem"),
    [
        (4, (24, 32), np.uint8, "received 4 slices"),
        (6, (24, 32), np.uint8, "more than the 5"),
        (5, (24, 31), np.uint8, "slice 0 has shape"),
        (5, (24, 32), np.uint16, "dtype uint16"),
    ],
)
def test_wrong_slices_are_a_programming_error(tmp_path, count, shape, dtype, problem):
    spec = VolumeSpec((5, 24, 32), np.dtype(np.uint8))
    slices = (np.zeros(shape, dtype) for _ in range(count))
    with pytest.raises(ValueError, match=problem):
        write_tiff(tmp_path / "vol.tif", slices, spec)


def test_checked_slices_passes_a_matching_stream_through():
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = list(checked_slices(iter(data), VolumeSpec(data.shape, data.dtype)))
    np.testing.assert_array_equal(np.stack(out), data)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_region_reads_equal_numpy_slicing(tmp_path, make_volume, compression):
    data = make_volume(np.uint16, shape=(7, 20, 30))
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, data, compression=compression, photometric="minisblack")
    with TiffReader(path) as reader:
        assert reader.memory_mapped is (compression is None)
        for region in [
            (slice(2, 5), slice(3, 17), slice(0, 29)),
            (slice(6, 7), slice(None), slice(10, 11)),
            (slice(0, 7), slice(19, 20), slice(None)),
        ]:
            np.testing.assert_array_equal(reader.read(*region), data[region])
        assert reader.read(slice(3, 3)).shape == (0, 20, 30)


def test_page_path_decodes_only_the_requested_pages(tmp_path, make_volume):
    data = make_volume(np.uint8, shape=(6, 32, 32))
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, data, compression="zlib", photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        offset, size = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    with open(path, "r+b") as file:  # destroy the first page's compressed data
        file.seek(offset)
        file.write(b"\x00" * size)
    with TiffReader(path) as reader:
        np.testing.assert_array_equal(reader.read(slice(2, 6)), data[2:6])
        with pytest.raises(VemRestoreError, match=r"vol\.tif: cannot decode slices 0-1"):
            reader.read(slice(0, 2))


def test_single_2d_page_is_one_slice(tmp_path, make_volume):
    image = make_volume(np.uint16, shape=(1, 24, 32))[0]
    tifffile.imwrite(tmp_path / "one.tif", image)
    with TiffReader(tmp_path / "one.tif") as reader:
        assert reader.shape == (1, 24, 32)
        np.testing.assert_array_equal(reader.read(slice(None))[0], image)


@pytest.mark.parametrize("stored_shape", [(1, 5, 1, 24, 32), (5, 24, 32, 1)])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_length_one_axes_are_dropped(tmp_path, make_volume, stored_shape, compression):
    data = make_volume(np.uint8)
    path = tmp_path / "padded.tif"
    tifffile.imwrite(
        path, data.reshape(stored_shape), photometric="minisblack", compression=compression
    )
    with TiffReader(path) as reader:
        assert reader.shape == data.shape
        np.testing.assert_array_equal(reader.read(slice(1, 4), slice(2, 5)), data[1:4, 2:5])


def test_big_endian_file_reads_as_native_dtype(tmp_path, make_volume):
    data = make_volume(np.uint16)
    tifffile.imwrite(tmp_path / "be.tif", data, byteorder=">", photometric="minisblack")
    with TiffReader(tmp_path / "be.tif") as reader:
        assert reader.dtype == np.dtype(np.uint16) and reader.dtype.isnative
        np.testing.assert_array_equal(reader.read(slice(1, 3)), data[1:3])


def test_imagej_calibration_in_microns_is_converted_to_nm(tmp_path, make_volume):
    data = make_volume(np.uint8)
    tifffile.imwrite(
        tmp_path / "um.tif",
        data,
        imagej=True,
        resolution=(200.0, 250.0),
        metadata={"spacing": 0.03, "unit": "micron", "axes": "ZYX"},
    )
    with TiffReader(tmp_path / "um.tif") as reader:
        np.testing.assert_allclose(reader.spec.voxel_size, (30.0, 4.0, 5.0))


@pytest.mark.parametrize(
    ("unit", "nm"),
    [
        ("nm", 1.0),
        ("nanometer", 1.0),
        ("µm", 1e3),
        ("\\u00B5m", 1e3),
        ("um", 1e3),
        ("Micron", 1e3),
        ("micrometer", 1e3),
        ("pixel", None),
        ("", None),
        (None, None),
    ],
)
def test_units(unit, nm):
    assert nm_per_unit(unit) == nm


def test_nan_in_float_tiff_is_refused_with_its_slice(tmp_path, make_volume):
    data = make_volume(np.float32)
    data[3, 2, 1] = np.nan
    tifffile.imwrite(tmp_path / "float.tif", data)
    with TiffReader(tmp_path / "float.tif") as reader:
        np.testing.assert_array_equal(reader.read(slice(0, 3)), data[:3])
        with pytest.raises(VemRestoreError, match=r"float\.tif: contains NaN.*slice 3"):
            reader.read(slice(1, 5))


def _error(path) -> str:
    with pytest.raises(VemRestoreError) as caught:
        TiffReader(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_corrupt_tiff_is_refused(tmp_path):
    path = tmp_path / "scan.tif"
    path.write_bytes(os.urandom(4096))
    assert "not a TIFF file or corrupt" in _error(path)


def test_folder_named_like_a_tiff_is_refused(tmp_path):
    (tmp_path / "folder.tif").mkdir()
    assert "cannot read the file" in _error(tmp_path / "folder.tif")


def test_rgb_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    assert "colour samples or channels" in _error(tmp_path / "rgb.tif")


def test_4d_tiff_is_refused(tmp_path):
    tifffile.imwrite(
        tmp_path / "hyper.tif", np.zeros((2, 3, 16, 16), np.uint8), photometric="minisblack"
    )
    assert "got 4D data" in _error(tmp_path / "hyper.tif")


def test_unsupported_dtype_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "double.tif", np.zeros((2, 16, 16), np.float64))
    assert "unsupported data type float64" in _error(tmp_path / "double.tif")


def test_truncated_uncompressed_tiff_is_refused(tmp_path, make_volume):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, make_volume(np.uint16, shape=(10, 64, 64)), photometric="minisblack")
    path.write_bytes(path.read_bytes()[:40_000])
    assert "truncated or corrupt" in _error(path)


def test_truncated_compressed_tiff_is_refused_not_silently_shortened(tmp_path, make_volume):
    path = tmp_path / "cut.tif"
    data = make_volume(np.uint8, shape=(10, 64, 64))
    tifffile.imwrite(path, data, compression="zlib", photometric="minisblack")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "announces 10 slices" in _error(path)


def test_tiff_without_images_is_refused(tmp_path):
    path = tmp_path / "header_only.tif"
    path.write_bytes(b"II*\x00\x00\x00\x00\x00")  # valid header, no first page
    assert "contains no images" in _error(path)
