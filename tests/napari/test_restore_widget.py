"""The Restore widget in a real (headless) napari Viewer."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from vemrestore import api
from vemrestore.config import InferenceConfig, NormalizationConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.models import create_model
from vemrestore.napari_plugin.restore import RestoreWidget


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    save_checkpoint(
        path, create_model("unet2p5d", window=3, base_channels=4, depth=2), NormalizationConfig()
    )
    return path


def _widget(viewer, model_path) -> RestoreWidget:
    widget = RestoreWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.model._choice.value = "checkpoint or bioimage.io file…"
    widget.model._file.value = model_path
    return widget


def _wait_idle(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)


def test_restore_a_layer_equals_the_api(make_napari_viewer, qtbot, tiny_model, rng):
    viewer = make_napari_viewer()
    data = rng.integers(0, 256, size=(6, 48, 40), dtype=np.uint8)
    viewer.add_image(data, name="fast", scale=(40.0, 5.0, 5.0))
    widget = _widget(viewer, tiny_model)
    widget._tile.value = 32
    widget.start()
    _wait_idle(qtbot, widget)
    result = viewer.layers["fast restored"]
    expected = api.restore(data, tiny_model, config=InferenceConfig(tile=(3, 32, 32)))
    assert np.abs(expected.astype(int) - data).max() > 0
    np.testing.assert_array_equal(result.data, expected)
    np.testing.assert_array_equal(result.scale, (40.0, 5.0, 5.0))
    assert widget._status.value == "done" and widget._progress.value == 6


class _Slow(nn.Module):
    window = 1

    def forward(self, x):
        time.sleep(0.05)
        return x


def test_cancel_leaves_no_layer_and_no_file(make_napari_viewer, qtbot, tmp_path, rng):
    viewer = make_napari_viewer()
    viewer.add_image(rng.integers(0, 256, size=(40, 32, 32), dtype=np.uint8), name="fast")
    model = tmp_path / "slow.pt"
    save_checkpoint(model, create_model("identity", window=1), NormalizationConfig())
    widget = _widget(viewer, model)
    widget._output.value = tmp_path / "out.zarr"
    original = widget.config

    def slow_config(path):
        checkpoint, config = original(path)
        checkpoint.model = _Slow()
        return checkpoint, config

    widget.config = slow_config
    widget.start()
    qtbot.waitUntil(lambda: widget._progress.value >= 2, timeout=30_000)
    widget.cancel()
    _wait_idle(qtbot, widget)
    assert [layer.name for layer in viewer.layers] == ["fast"]
    assert widget._status.value == "cancelled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.pt"], "no partial output"


def test_live_mode_shows_the_growing_output(make_napari_viewer, qtbot, tmp_path, tiny_model, rng):
    import tifffile

    viewer = make_napari_viewer()
    folder = tmp_path / "acquisition"
    folder.mkdir()
    stack = rng.integers(0, 256, size=(7, 40, 40), dtype=np.uint8)
    for z, image in enumerate(stack):
        tifffile.imwrite(folder / f"s{z}.tif", image)
    widget = _widget(viewer, tiny_model)
    widget._tile.value = 32
    widget._live.value = True
    widget._live_folder.value = folder
    widget._output.value = tmp_path / "live.zarr"
    widget.start()
    qtbot.waitUntil(
        lambda: "live.zarr (live)" in [layer.name for layer in viewer.layers], timeout=60_000
    )
    widget.cancel()  # the acquisition has ended: the last slices are restored
    _wait_idle(qtbot, widget)
    qtbot.waitUntil(lambda: viewer.layers["live.zarr (live)"].data.shape[0] == 7, timeout=10_000)
    expected = api.restore(stack, tiny_model, config=InferenceConfig(tile=(3, 32, 32)))
    np.testing.assert_array_equal(np.asarray(viewer.layers["live.zarr (live)"].data), expected)
