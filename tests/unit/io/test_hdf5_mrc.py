"""HDF5 (input and output) and MRC (input) volumes keep data and voxel size."""

from pathlib import Path

import h5py
import mrcfile
import numpy as np
import pytest

from vemrestore.api import restore_file
from vemrestore.config import NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.io import VolumeSpec, open_volume, write_volume
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model


@pytest.fixture
def volume(rng) -> np.ndarray:
    return rng.integers(0, 4096, size=(4, 24, 32)).astype(np.uint16)


def test_hdf5_dataset_path_and_voxel_size_round_trip(tmp_path: Path, volume) -> None:
    source = tmp_path / "scan.h5"
    with h5py.File(source, "w") as handle:
        data = handle.create_dataset("em/raw", data=volume, chunks=(1, 24, 32))
        data.attrs["element_size_um"] = [0.03, 0.004, 0.004]
        handle.create_dataset("em/labels", data=volume.astype(np.uint8))
    with open_volume(f"{source}:/em/raw") as reader:
        assert reader.format == "hdf5" and reader.shape == volume.shape
        assert reader.spec.voxel_size == pytest.approx((30.0, 4.0, 4.0))
        np.testing.assert_array_equal(reader.read(slice(1, 3), slice(2, 9)), volume[1:3, 2:9])
        spec = reader.spec
        written = write_volume(
            tmp_path / "out.h5", (reader.read(slice(z, z + 1))[0] for z in range(4)), spec
        )
    with open_volume(written) as again:  # one dataset: no path needed
        np.testing.assert_array_equal(again.read(slice(None)), volume)
        assert again.spec.voxel_size == pytest.approx((30.0, 4.0, 4.0))
    with pytest.raises(VemRestoreError, match="say which dataset"):
        open_volume(source)


def test_hdf5_output_without_voxel_size_stays_unknown(tmp_path: Path, volume) -> None:
    spec = VolumeSpec(volume.shape, volume.dtype, None)
    write_volume(tmp_path / "out.hdf5", iter(volume), spec)
    with open_volume(tmp_path / "out.hdf5:/volume") as reader:
        assert reader.spec.voxel_size is None


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.int16])
def test_mrc_data_and_voxel_size_round_trip(tmp_path: Path, volume, dtype) -> None:
    path = tmp_path / "tomo.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(volume.astype(dtype))
        mrc.voxel_size = (42.0, 42.0, 300.0)  # Å, x y z
    with open_volume(path) as reader:
        assert reader.format == "mrc"
        assert reader.spec.voxel_size == pytest.approx((30.0, 4.2, 4.2))
        expected = np.float32 if dtype == np.int16 else dtype
        assert reader.dtype == expected
        np.testing.assert_array_equal(reader.read(slice(None)), volume.astype(expected))


def test_restoring_hdf5_to_hdf5_keeps_the_voxel_size(tmp_path: Path, volume) -> None:
    source = tmp_path / "scan.h5"
    with h5py.File(source, "w") as handle:
        handle.create_dataset("raw", data=volume).attrs["resolution"] = [30.0, 4.0, 4.0]
    model = tmp_path / "identity.pt"
    save_checkpoint(model, create_model("identity", window=1), NormalizationConfig())
    restore_file(f"{source}:/raw", tmp_path / "restored.h5", model)
    with open_volume(tmp_path / "restored.h5") as reader:
        assert reader.spec.voxel_size == pytest.approx((30.0, 4.0, 4.0))
        np.testing.assert_array_equal(reader.read(slice(None)), volume)
