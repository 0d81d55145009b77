"""Slice folders: natural z order, per-file reads, TIFF and PNG slices, and bad folders."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from vemrestore.errors import VemRestoreError
from vemrestore.io.base import VolumeSpec
from vemrestore.io.slices import SliceFolderReader, check_slice_format, write_slice_folder

VOXEL = (40.0, 3.5, 3.5)


@pytest.mark.parametrize(
    ("suffix", "dtype"),
    [
        (".tif", np.uint8),
        (".tif", np.uint16),
        (".tif", np.float32),
        (".tiff", np.uint16),
        (".png", np.uint8),
        (".png", np.uint16),
    ],
)
def test_round_trip_is_bit_exact(tmp_path, make_volume, suffix, dtype):
    data = make_volume(dtype)
    folder = tmp_path / "slices"
    write_slice_folder(folder, iter(data), VolumeSpec(data.shape, data.dtype, VOXEL), suffix)
    assert sorted(p.name for p in folder.iterdir()) == [f"slice_{z:05d}{suffix}" for z in range(5)]
    with SliceFolderReader(folder) as reader:
        assert reader.shape == data.shape and reader.dtype == np.dtype(dtype)
        # PNG has no place for a voxel size; TIFF slices carry it.
        assert reader.spec.voxel_size == (None if suffix == ".png" else VOXEL)
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_slices_are_read_in_natural_order(tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    for number in (10, 2, 1, 20, 3):
        tifffile.imwrite(folder / f"s{number}.tif", np.full((4, 6), number, np.uint8))
    (folder / "notes.txt").write_text("not a slice")
    (folder / "._s0.tif").write_bytes(b"macOS resource fork")
    with SliceFolderReader(folder, allow_gaps=True) as reader:  # 1, 2, 3, 10, 20: gaps
        names = [path.name for path in reader.files]
        assert names == ["s1.tif", "s2.tif", "s3.tif", "s10.tif", "s20.tif"]
        np.testing.assert_array_equal(reader.read(slice(None))[:, 0, 0], [1, 2, 3, 10, 20])


def test_region_read_opens_only_the_files_it_needs(tmp_path, make_volume):
    data = make_volume(np.uint16, shape=(6, 10, 12))
    folder = tmp_path / "slices"
    write_slice_folder(folder, iter(data), VolumeSpec(data.shape, data.dtype), ".png")
    with SliceFolderReader(folder) as reader:
        for path in reader.files[:2] + reader.files[4:]:
            path.unlink()
        np.testing.assert_array_equal(
            reader.read(slice(2, 4), slice(1, 9), slice(3, 12)), data[2:4, 1:9, 3:12]
        )
        with pytest.raises(VemRestoreError, match="slice_00000.png: cannot decode slice"):
            reader.read(slice(0, 3))


def test_voxel_size_comes_from_a_tiff_slice_even_after_png_slices(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    iio.imwrite(folder / "a1.png", np.zeros((4, 6), np.uint8))
    tifffile.imwrite(
        folder / "a2.tif",
        np.zeros((4, 6), np.uint8),
        imagej=True,
        resolution=(0.5, 0.25),
        metadata={"spacing": 10.0, "unit": "nm", "axes": "YX"},
    )
    with SliceFolderReader(folder) as reader:
        assert reader.spec.voxel_size == (10.0, 4.0, 2.0)


def test_png_cannot_hold_float32(tmp_path):
    spec = VolumeSpec((2, 4, 4), np.dtype(np.float32))
    consumed = []

    def slices():
        consumed.append(True)
        yield from np.zeros((2, 4, 4), np.float32)

    with pytest.raises(VemRestoreError, match=r"out: PNG slices hold uint8 or uint16 only, not f"):
        write_slice_folder(tmp_path / "out", slices(), spec, ".png")
    assert not consumed and not (tmp_path / "out").exists()


def test_unknown_slice_suffix_is_refused(tmp_path):
    with pytest.raises(VemRestoreError, match=r"out: unsupported slice format '\.jpg'"):
        check_slice_format(tmp_path / "out", VolumeSpec((1, 2, 2), np.dtype(np.uint8)), ".jpg")


def _error(folder) -> str:
    with pytest.raises(VemRestoreError) as caught:
        SliceFolderReader(folder)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_empty_folder_is_refused(tmp_path):
    (tmp_path / "empty_slices").mkdir()
    (tmp_path / "empty_slices" / "readme.txt").write_text("no images here")
    message = _error(tmp_path / "empty_slices")
    assert "empty_slices" in message and "no .tif/.tiff/.png slices" in message


def test_mismatched_slice_shape_names_the_file(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    for name, shape in [("z1.tif", (8, 8)), ("z2.tif", (8, 8)), ("z3.tif", (8, 9))]:
        tifffile.imwrite(folder / name, np.zeros(shape, np.uint8))
    message = _error(folder)
    assert "z3.tif: slice is (8, 9) uint8, but z1.tif is (8, 8) uint8" in message


def test_mismatched_slice_dtype_names_the_file(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    iio.imwrite(folder / "z1.png", np.zeros((8, 8), np.uint8))
    iio.imwrite(folder / "z2.png", np.zeros((8, 8), np.uint16))
    assert "z2.png: slice is (8, 8) uint16" in _error(folder)


def test_rgb_slice_is_refused(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    iio.imwrite(folder / "colour.png", np.zeros((8, 8, 3), np.uint8))
    assert "colour.png: expected a 2D greyscale slice" in _error(folder)


def test_corrupt_slice_is_refused(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    tifffile.imwrite(folder / "z1.tif", np.zeros((8, 8), np.uint8))
    (folder / "z2.tif").write_bytes(b"definitely not a tiff")
    assert "z2.tif: cannot read slice" in _error(folder)
