import numpy as np
import pytest
from pydantic import ValidationError

from vemrestore.api import restore
from vemrestore.config import NormalizationConfig
from vemrestore.data.normalization import Normalizer, dtype_range, fit_normalizer
from vemrestore.io.base import ArrayReader
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_dtype_normalisation_round_trips_every_value_exactly(dtype):
    values = np.arange(np.iinfo(dtype).max + 1, dtype=dtype).reshape(1, 1, -1)
    normalizer = fit_normalizer(NormalizationConfig(), ArrayReader(values))
    assert (normalizer.low, normalizer.high) == dtype_range(dtype)
    normalized = normalizer.normalize(values)
    assert normalized.dtype == np.float32 and normalized.min() == 0 and normalized.max() == 1
    np.testing.assert_array_equal(normalizer.denormalize(normalized, dtype), values)


def test_denormalize_clips_to_the_dtype_range():
    restored = Normalizer(0.0, 255.0).denormalize(np.array([-0.5, 0.5, 1.7], np.float32), np.uint8)
    assert restored.tolist() == [0, 128, 255]


def test_percentile_normalisation_maps_percentiles_to_0_and_1(rng):
    volume = rng.normal(30000, 2000, size=(40, 64, 64)).astype(np.uint16)
    config = NormalizationConfig(mode="percentile", low_percentile=1, high_percentile=99)
    normalizer = fit_normalizer(config, ArrayReader(volume))
    low, high = np.percentile(volume, [1, 99])
    assert normalizer.low == pytest.approx(low, rel=0.01)
    assert normalizer.high == pytest.approx(high, rel=0.01)
    roundtrip = normalizer.denormalize(normalizer.normalize(volume), np.uint16)
    np.testing.assert_array_equal(roundtrip, volume)


def test_config_rejects_unknown_keys_and_unordered_percentiles():
    with pytest.raises(ValidationError):
        NormalizationConfig(mode="dtype", lowpercentile=1)
    with pytest.raises(ValidationError):
        NormalizationConfig(mode="percentile", low_percentile=99, high_percentile=1)


@pytest.mark.parametrize(("bits", "full_scale"), [(12, 4095), (14, 16383), (16, 65535)])
def test_uint16_holding_12_or_14_bits_is_normalised_by_its_real_range(rng, bits, full_scale):
    volume = rng.integers(0, 2**bits, size=(4, 32, 32)).astype(np.uint16)
    volume[0, 0, 0] = 2**bits - 1
    normalizer = fit_normalizer(NormalizationConfig(), ArrayReader(volume))
    assert (normalizer.low, normalizer.high) == (0.0, full_scale)
    roundtrip = normalizer.denormalize(normalizer.normalize(volume), np.uint16)
    np.testing.assert_array_equal(roundtrip, volume)


def test_float_input_in_raw_counts_gets_percentiles_and_says_so(rng, caplog):
    counts = rng.normal(3000, 400, size=(4, 32, 32)).astype(np.float32)  # Fiji 32-bit
    normalizer = fit_normalizer(NormalizationConfig(), ArrayReader(counts))
    low, high = np.percentile(counts, [0.1, 99.9])
    assert normalizer.low == pytest.approx(low, rel=0.01)
    assert normalizer.high == pytest.approx(high, rel=0.01)
    assert "normalised by its 0.1–99.9 percentiles" in caplog.text


def test_restoring_data_unlike_the_training_input_warns(rng, caplog, tmp_path):
    def checkpoint(name: str, spread: list[float]):
        model = create_model("identity", window=1)
        save_checkpoint(tmp_path / name, model, NormalizationConfig(), {"input_spread": spread})
        return tmp_path / name

    dark = rng.integers(0, 60, size=(2, 32, 32)).astype(np.uint8)  # spread ≈ 0.0–0.23
    restore(dark, checkpoint("like.pt", [0.0, 0.23]))
    assert "differ from the model's training input" not in caplog.text
    restore(dark, checkpoint("unlike.pt", [0.3, 0.9]))
    assert "differ from the model's training input (0.30–0.90)" in caplog.text


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_denormalize_in_place_gives_the_same_numbers_and_reuses_the_input(dtype) -> None:
    normalizer = Normalizer(low=3.0, high=250.0)
    values = np.random.default_rng(0).uniform(-0.2, 1.2, size=(7, 9)).astype(np.float32)
    expected = normalizer.denormalize(values, dtype)
    scratch = values.copy()
    result = normalizer.denormalize(scratch, dtype, overwrite=True)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected)
    assert not np.array_equal(scratch, values)  # the input held the intermediate values
