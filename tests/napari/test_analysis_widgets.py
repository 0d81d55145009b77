"""Inspect noise and Evaluate show the library's values; the demo pair loads as sample data;
the npe2 manifest declares every widget."""

from __future__ import annotations

import numpy as np
import pytest

from vemrestore.evaluation.noise import inspect_noise
from vemrestore.evaluation.quality import evaluate, resolution
from vemrestore.napari_plugin.analysis import EvaluateWidget, InspectNoiseWidget


def _run(qtbot, widget) -> None:
    widget.start()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)


def test_inspect_shows_the_library_report(make_napari_viewer, qtbot, rng):
    viewer = make_napari_viewer()
    volume = rng.normal(100, 10, size=(12, 48, 48)).astype(np.float32)
    volume[5] += rng.normal(0, 40, size=(48, 48)).astype(np.float32)  # a noisy outlier slice
    viewer.add_image(volume, name="scan")
    widget = InspectNoiseWidget(viewer)
    viewer.window.add_dock_widget(widget)
    _run(qtbot, widget)
    expected = inspect_noise(volume)
    assert widget.summary.value == "\n".join(expected.summary())
    assert "NOT uniform" in widget.summary.value
    assert not widget.figure.pixmap().isNull()


def test_evaluate_table_equals_the_library(make_napari_viewer, qtbot, rng):
    viewer = make_napari_viewer()
    reference = rng.random((4, 64, 64)).astype(np.float32)
    noisy = (reference + rng.normal(0, 0.3, reference.shape)).astype(np.float32)
    restored = (reference + rng.normal(0, 0.1, reference.shape)).astype(np.float32)
    for name, data in (("restored", restored), ("reference", reference), ("noisy", noisy)):
        viewer.add_image(data, name=name, scale=(40.0, 5.0, 5.0))
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._restored.value = viewer.layers["restored"]
    widget._reference.value = viewer.layers["reference"]
    widget._input.value = viewer.layers["noisy"]
    _run(qtbot, widget)
    expected = evaluate(restored, reference, noisy, pixel_size=5.0)
    table = widget.table.value
    rows = [list(row) for row in table["data"]]
    assert list(table["index"]) == ["restored", "input"]
    assert rows[0][:2] == [round(expected.scores.psnr, 2), round(expected.scores.ssim, 4)]
    assert rows[1][0] == round(expected.input_scores.psnr, 2)
    assert rows[0][2] == f"{resolution(expected.frc_reference):.1f} nm"
    assert expected.scores.psnr > expected.input_scores.psnr
    assert not widget.figure.pixmap().isNull()


def test_demo_pair_sample_and_manifest(make_napari_viewer):
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManager.instance().get_manifest("vemrestore")
    widgets = {w.display_name for w in manifest.contributions.widgets}
    assert widgets == {"Restore", "Train self-supervised", "Inspect noise", "Evaluate"}
    viewer = make_napari_viewer()
    viewer.open_sample("vemrestore", "demo_pair")
    assert [layer.name for layer in viewer.layers] == ["demo fast", "demo slow"]
    assert viewer.layers["demo fast"].data.shape == (16, 256, 256)
    np.testing.assert_array_equal(viewer.layers["demo fast"].scale, (40.0, 5.0, 5.0))
    for command in manifest.contributions.commands:
        if command.id != "vemrestore.demo_pair":
            widget, _ = viewer.window.add_plugin_dock_widget(
                "vemrestore", _display(manifest, command)
            )
            assert widget is not None


def _display(manifest, command) -> str:
    return next(w.display_name for w in manifest.contributions.widgets if w.command == command.id)
