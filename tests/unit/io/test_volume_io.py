"""The public I/O interface: format dispatch, safe writing, and ``describe``."""

import numpy as np
import pytest
import tifffile
import zarr

import vemrestore.io as vio
from vemrestore.errors import VemRestoreError
from vemrestore.io import (
    ArrayReader,
    SliceFolderReader,
    TiffReader,
    VolumeSpec,
    ZarrReader,
    describe,
    open_volume,
    output_format,
    write_volume,
)

VOXEL = (30.0, 8.0, 8.0)
OUTPUTS = ["out.tif", "out.tiff", "out.zarr", "out.ome.zarr", "out_slices"]


def _listing(folder) -> set[str]:
    return {path.name for path in folder.iterdir()}


@pytest.mark.parametrize("name", OUTPUTS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_write_then_open_round_trips(tmp_path, make_volume, name, dtype):
    data = make_volume(dtype)
    written = write_volume(tmp_path / name, iter(data), VolumeSpec(data.shape, data.dtype, VOXEL))
    assert written == tmp_path / name
    assert _listing(tmp_path) == {name}
    with open_volume(written) as reader:
        assert reader.spec == VolumeSpec(data.shape, np.dtype(dtype), VOXEL)
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_png_slice_folder_through_write_volume(tmp_path, make_volume):
    data = make_volume(np.uint16)
    write_volume(
        tmp_path / "pngs", iter(data), VolumeSpec(data.shape, data.dtype), slice_suffix=".png"
    )
    names = [p.name for p in (tmp_path / "pngs").iterdir()]
    assert {n.rsplit(".", 1)[-1] for n in names if not n.startswith(".")} == {"png"}
    assert ".vemrestore-output" in names  # hidden: viewers skip it, --overwrite knows it
    with open_volume(tmp_path / "pngs") as reader:
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_open_dispatches_on_suffix_and_content(tmp_path, make_volume):
    data = make_volume(np.uint8)
    tifffile.imwrite(tmp_path / "UPPER.TIFF", data)
    zarr.create_array(tmp_path / "store_without_suffix", data=data)
    (tmp_path / "slices").mkdir()
    tifffile.imwrite(tmp_path / "slices" / "s1.tif", data[0])
    write_volume(tmp_path / "image.ome.zarr", iter(data), VolumeSpec(data.shape, data.dtype))
    expected = {
        "UPPER.TIFF": TiffReader,
        "store_without_suffix": ZarrReader,
        "slices": SliceFolderReader,
        "image.ome.zarr": ZarrReader,
    }
    for name, reader_type in expected.items():
        with open_volume(str(tmp_path / name)) as reader:
            assert type(reader) is reader_type, name


def test_missing_input(tmp_path):
    with pytest.raises(VemRestoreError, match=r"nothere\.tif: file not found$"):
        open_volume(tmp_path / "nothere.tif")


def test_unsupported_input_extension(tmp_path):
    (tmp_path / "image.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(VemRestoreError) as caught:
        open_volume(tmp_path / "image.jpg")
    assert str(caught.value) == (
        f"{tmp_path / 'image.jpg'}: unsupported format '.jpg' (expected a .tif/.tiff file, "
        "a .zarr store, an .h5 or .mrc file, or a folder of .tif/.png slices)"
    )


def test_array_option_outside_zarr_is_refused(tmp_path, make_volume):
    tifffile.imwrite(tmp_path / "vol.tif", make_volume(np.uint8))
    with pytest.raises(VemRestoreError, match=r"vol\.tif: --array applies only to Zarr stores"):
        open_volume(tmp_path / "vol.tif", array="raw")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.tif", "tiff"),
        ("a.TIF", "tiff"),
        ("a.tiff", "tiff"),
        ("a.zarr", "zarr"),
        ("a.ome.zarr", "zarr"),
        ("restored", "slices"),
    ],
)
def test_output_format(name, fmt):
    assert output_format(name) == fmt


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "out.mrc"])
def test_unsupported_output_format(name):
    with pytest.raises(VemRestoreError, match=rf"{name}: unsupported output format"):
        output_format(name)


class CountingSlices:
    """An iterator that records how many slices were pulled and can fail after some."""

    def __init__(
        self, data: np.ndarray, fail_after: int | None = None, error: BaseException | None = None
    ) -> None:
        self.data, self.fail_after, self.error, self.pulled = data, fail_after, error, 0

    def __iter__(self):
        for image in self.data:
            if self.pulled == self.fail_after:
                raise self.error
            self.pulled += 1
            yield image


def test_existing_output_is_kept_and_nothing_is_computed(tmp_path, make_volume):
    data = make_volume(np.uint8)
    out = tmp_path / "out.tif"
    out.write_bytes(b"keep me")
    slices = CountingSlices(data)
    with pytest.raises(VemRestoreError, match=r"out\.tif: output already exists.*--overwrite"):
        write_volume(out, slices, VolumeSpec(data.shape, data.dtype))
    assert slices.pulled == 0 and out.read_bytes() == b"keep me"
    write_volume(out, iter(data), VolumeSpec(data.shape, data.dtype), overwrite=True)
    np.testing.assert_array_equal(tifffile.imread(out), data)
    assert _listing(tmp_path) == {"out.tif"}


def test_overwrite_replaces_a_folder_output(tmp_path, make_volume):
    data = make_volume(np.uint8, shape=(2, 4, 4))
    out = tmp_path / "out.zarr"
    write_volume(out, iter(data[::-1]), VolumeSpec(data.shape, data.dtype))
    (out / "old.txt").write_text("old run")
    write_volume(out, iter(data), VolumeSpec(data.shape, data.dtype), overwrite=True)
    assert not (out / "old.txt").exists()
    with open_volume(out) as reader:
        np.testing.assert_array_equal(reader.read(slice(None)), data)


def test_overwrite_refuses_a_folder_vemrestore_did_not_write(tmp_path, make_volume):
    data = make_volume(np.uint8, shape=(2, 4, 4))
    out = tmp_path / "out.zarr"
    out.mkdir()
    (out / "notes.txt").write_text("not ours")
    with pytest.raises(VemRestoreError, match="replaces only a file or a folder vemrestore"):
        write_volume(out, iter(data), VolumeSpec(data.shape, data.dtype), overwrite=True)
    assert (out / "notes.txt").read_text() == "not ours"


def test_missing_output_folder_is_refused_before_computing(tmp_path, make_volume):
    data = make_volume(np.uint8)
    slices = CountingSlices(data)
    with pytest.raises(VemRestoreError, match=r"out\.tif: output folder .* does not exist"):
        write_volume(tmp_path / "no" / "out.tif", slices, VolumeSpec(data.shape, data.dtype))
    assert slices.pulled == 0


@pytest.mark.parametrize("name", ["out.png", "slices_as_png"])
def test_unwritable_requests_are_refused_before_computing(tmp_path, make_volume, name):
    data = make_volume(np.float32)
    slices = CountingSlices(data)
    with pytest.raises(VemRestoreError, match=name):
        write_volume(
            tmp_path / name, slices, VolumeSpec(data.shape, data.dtype), slice_suffix=".png"
        )
    assert slices.pulled == 0 and _listing(tmp_path) == set()


@pytest.mark.parametrize("name", OUTPUTS)
@pytest.mark.parametrize("error", [RuntimeError("model crashed"), KeyboardInterrupt()])
def test_interrupted_write_leaves_nothing_behind(tmp_path, make_volume, name, error):
    data = make_volume(np.uint16, shape=(12, 16, 16))
    (tmp_path / "input.tif").write_bytes(b"unrelated")
    slices = CountingSlices(data, fail_after=9, error=error)
    with pytest.raises(type(error)):
        write_volume(
            tmp_path / name, slices, VolumeSpec(data.shape, data.dtype), chunks=(4, 16, 16)
        )
    assert slices.pulled == 9
    assert _listing(tmp_path) == {"input.tif"}


def test_wrong_slice_count_is_a_value_error_and_leaves_nothing(tmp_path, make_volume):
    data = make_volume(np.uint8)
    with pytest.raises(ValueError, match="received 4 slices"):
        write_volume(tmp_path / "out.zarr", iter(data[:4]), VolumeSpec(data.shape, data.dtype))
    assert _listing(tmp_path) == set()


def test_describe_reports_layout_and_value_range(tmp_path, make_volume, monkeypatch):
    monkeypatch.setattr(vio, "DESCRIBE_SLAB_BYTES", 2 * 24 * 32 * 2)  # two slices per slab
    data = make_volume(np.uint16)
    write_volume(
        tmp_path / "vol.zarr",
        iter(data),
        VolumeSpec(data.shape, data.dtype, VOXEL),
        chunks=(2, 16, 16),
    )
    with open_volume(tmp_path / "vol.zarr") as reader:
        assert describe(reader) == {
            "name": str(tmp_path / "vol.zarr"),
            "format": "ome-zarr",
            "shape": (5, 24, 32),
            "dtype": "uint16",
            "voxel_size_nm": VOXEL,
            "chunks": (2, 16, 16),
            "min": int(data.min()),
            "max": int(data.max()),
            "nonfinite_voxels": 0,
        }


def test_describe_counts_nan_and_inf_instead_of_failing(make_volume, monkeypatch):
    monkeypatch.setattr(vio, "DESCRIBE_SLAB_BYTES", 1)  # one slice per slab
    data = make_volume(np.float32)
    data[4] = 1e6  # the maximum sits in the last slab
    data[1, 2, 3], data[3, 0, 0] = np.nan, -np.inf
    info = describe(ArrayReader(data, name="float volume"))
    assert info["voxel_size_nm"] is None and info["chunks"] is None
    assert info["nonfinite_voxels"] == 2
    assert info["min"] == float(np.nanmin(data[np.isfinite(data)])) and info["max"] == 1e6
