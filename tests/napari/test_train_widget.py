"""The Train widget: a live curve, Stop keeping a usable checkpoint, "use this model", and
what it says when the run keeps its starting model or mixed weights."""

from __future__ import annotations

import numpy as np
import pytest

from vemrestore import api
from vemrestore.model_io.files import load_checkpoint
from vemrestore.napari_plugin.restore import RestoreWidget
from vemrestore.napari_plugin.train import TrainWidget
from vemrestore.training import run
from vemrestore.training.selection import StartComparison

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def fine_tuning_wins(monkeypatch):
    """The run's keep-start check (tests/integration/test_self_supervised_selection.py) decides
    for the fine-tuned network, so these tests see the widget, not that decision."""
    monkeypatch.setattr(run, "compare_with_start", lambda *args: StartComparison(20.0, 21.0))


@pytest.fixture
def noisy(rng) -> np.ndarray:
    clean = np.kron(rng.random((10, 16, 16)), np.ones((1, 8, 8)))
    return np.clip(clean + rng.normal(0, 0.2, clean.shape), 0, 1).astype(np.float32)


def _train_widget(viewer, steps: int) -> TrainWidget:
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._steps.value = steps
    widget._epoch_steps.value = 5
    widget._patch.value = 32
    widget._batch.value = 2
    return widget


def test_twenty_steps_plot_four_points_and_feed_the_restore_widget(
    make_napari_viewer, qtbot, noisy, fine_tuning_wins
):
    viewer = make_napari_viewer()
    viewer.add_image(noisy, name="noisy")
    restore_widget = RestoreWidget(viewer)
    widget = _train_widget(viewer, steps=20)
    widget.start()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=300_000)
    assert [row["step"] for row in widget.rows] == [5, 10, 15, 20]
    assert all(np.isfinite(row["val_psnr"]) for row in widget.rows)
    plotted = widget._psnr_axes.get_lines()[0].get_ydata()
    np.testing.assert_allclose(plotted, [row["val_psnr"] for row in widget.rows])
    widget.use_model()
    assert restore_widget.model.path == widget.model_path
    assert load_checkpoint(widget.model_path).metadata["task"] == "self_supervised"


def test_stop_keeps_a_usable_checkpoint(
    make_napari_viewer, qtbot, noisy, tmp_path, fine_tuning_wins
):
    viewer = make_napari_viewer()
    viewer.add_image(noisy, name="noisy")
    widget = _train_widget(viewer, steps=100_000)
    widget.start()
    qtbot.waitUntil(lambda: len(widget.rows) >= 2, timeout=300_000)
    widget.stop()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget.rows[-1]["step"] < 100_000
    assert widget.model_path is not None and widget.model_path.name == "best.pt"
    best = max(row["val_psnr"] for row in widget.rows)
    assert load_checkpoint(widget.model_path).metadata["val_psnr"] == pytest.approx(best)
    restored = api.restore(noisy, widget.model_path)
    assert restored.shape == noisy.shape and np.isfinite(restored).all()
    widget._save_to.value = tmp_path / "mine.pt"
    widget.save_model()
    assert load_checkpoint(tmp_path / "mine.pt").metadata["val_psnr"] == pytest.approx(best)


def _ten_steps(make_napari_viewer, qtbot, noisy) -> TrainWidget:
    viewer = make_napari_viewer()
    viewer.add_image(noisy, name="noisy")
    widget = _train_widget(viewer, steps=10)
    widget.start()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=300_000)
    return widget


def test_a_kept_starting_model_is_said_and_offered(make_napari_viewer, qtbot, noisy, monkeypatch):
    monkeypatch.setattr(run, "compare_with_start", lambda *args: StartComparison(21.0, 20.0))
    widget = _ten_steps(make_napari_viewer, qtbot, noisy)
    assert "starting model kept" in widget._status.value
    assert widget.model_path is not None and widget.model_path.name == "best.pt"
    assert load_checkpoint(widget.model_path).metadata["task"] == "synthetic"  # the generalist
    assert (widget.model_path.parent / run.FINE_TUNED).is_file()


def test_kept_mixed_weights_are_said(make_napari_viewer, qtbot, noisy, monkeypatch):
    monkeypatch.setattr(
        run, "compare_with_start", lambda *args: StartComparison(20.0, 21.0, ((0.5, 22.0),))
    )
    widget = _ten_steps(make_napari_viewer, qtbot, noisy)
    assert "kept the fine-tuned weights mixed 50% with 50%" in widget._status.value
    assert "mixed_with_start" in load_checkpoint(widget.model_path).metadata
    assert (widget.model_path.parent / run.FINE_TUNED).is_file()
