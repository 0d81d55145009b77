"""Key-slice mode: exact emulation from a hand-made pair, window placement, pass-through."""

import numpy as np
import pytest
import torch
from torch import nn

from vemrestore.api import restore_key_slices
from vemrestore.inference.key_slices import key_slice_windows
from vemrestore.tasks.key_slices import KeySliceTask, key_positions, simulate_key_slices


def test_emulation_builds_exactly_the_described_input_and_target() -> None:
    period = 4
    # voxel value encodes (volume, z, y, x): fast = 1zyx, slow = 2zyx (as decimal digits)
    z, y, x = np.meshgrid(np.arange(5), np.arange(4), np.arange(4), indexing="ij")
    fast = (1000 + 100 * z + 10 * y + x).astype(np.float32)
    slow = (2000 + 100 * z + 10 * y + x).astype(np.float32)
    task = KeySliceTask(period)
    assert task.source_extent(5, (2, 2)) == (5, 4, 4)
    inputs, target = task.make_example({"fast": fast, "slow": slow})
    assert inputs.shape == target.shape == (5, 2, 2)
    assert inputs.dtype == target.dtype == np.float32
    for k in range(5):
        source = slow if k in (0, 4) else fast
        np.testing.assert_array_equal(inputs[k], source[k, 0::2, 0::2])
        expected = (slow[k, 0::2, 1::2] + slow[k, 1::2, 0::2] + slow[k, 1::2, 1::2]) / 3
        np.testing.assert_allclose(target[k], expected)
    # slice 2, output pixel (1, 0): input fast z2 y2 x0; target mean of (2,1), (3,0), (3,1)
    assert inputs[2, 1, 0] == 1220
    assert target[2, 1, 0] == pytest.approx(2000 + 200 + (21 + 30 + 31) / 3)
    assert task.scored_slices(5) == slice(1, 4)


def test_simulate_takes_slow_at_key_positions_only() -> None:
    fast = np.zeros((10, 3, 3), np.uint8)
    slow = np.full((10, 3, 3), 7, np.uint8)
    acquisition = simulate_key_slices(fast, slow, period=4, offset=1)
    assert acquisition.dtype == np.uint8
    assert [int(v) for v in acquisition[:, 0, 0]] == [0, 7, 0, 0, 0, 7, 0, 0, 0, 7]
    assert key_positions(10, 4, 1).tolist() == [1, 5, 9]


def test_windows_start_at_key_slices_and_cover_the_volume() -> None:
    assert key_slice_windows(9, 4, 0) == [0, 4]
    assert key_slice_windows(10, 4, 2) == [0, 2, 5]
    assert key_slice_windows(5, 4, 3) == [0]


class _Recorder(nn.Module):
    """Adds 100 to every voxel and records the windows it sees (first in-plane voxel)."""

    def __init__(self) -> None:
        super().__init__()
        self.window = 5
        self.seen: list[list[float]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x[:, :, 0, 0].tolist()
        return x + 100.0 / 255.0


def test_inference_puts_keys_at_window_borders_and_passes_them_through() -> None:
    depth, period, offset = 11, 4, 1
    volume = np.repeat(np.arange(depth, dtype=np.uint8)[:, None, None], 16, 1).repeat(16, 2)
    model = _Recorder()
    output = restore_key_slices(volume, model, period=period, key_offset=offset)
    keys = [1, 5, 9]
    seen = sorted({tuple(round(v * 255) for v in window) for window in model.seen})
    assert (1, 2, 3, 4, 5) in seen and (5, 6, 7, 8, 9) in seen  # keys at both borders
    assert output[keys, 0, 0].tolist() == keys  # passed through unchanged
    others = [z for z in range(depth) if z not in keys]
    assert output[others, 0, 0].tolist() == [z + 100 for z in others]
