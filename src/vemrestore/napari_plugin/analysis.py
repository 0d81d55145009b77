"""The Inspect noise and Evaluate dock widgets: the library's measurements, shown in the dock.

Thin: ``inspect_noise`` / ``evaluate`` run in a worker thread; their figures are the ones the
CLI writes (``plot_noise_report``, ``frc_figure``), shown as images.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import Container, Label, PushButton, Table, create_widget
from qtpy.QtGui import QPixmap
from qtpy.QtWidgets import QLabel

from vemrestore.errors import VemRestoreError
from vemrestore.napari_plugin._worker import notify_error, run_in_thread


class _FigureDock(Container):
    """A dock with a Run button (subclasses define ``start``), a text area and a figure."""

    def __init__(self, viewer: napari.viewer.Viewer, inputs: list, button: str) -> None:
        self._viewer = viewer
        self._run = PushButton(text=button)
        self.summary = Label(value="")
        super().__init__(widgets=[*inputs, self._run, self.summary])
        self.figure = QLabel()
        self.native.layout().addWidget(self.figure)
        self.worker: Any = None
        self._run.changed.connect(self.start)
        viewer.layers.events.inserted.connect(self.reset_choices)
        viewer.layers.events.removed.connect(self.reset_choices)
        self.reset_choices()

    def _show_figure(self, path: Path) -> None:
        pixmap = QPixmap(str(path))
        self.figure.setPixmap(pixmap.scaledToWidth(420))

    def _run_work(self, work, shown) -> None:
        if self.worker is not None:
            return
        self._run.enabled = False
        self.summary.value = "working…"
        self.worker = run_in_thread(work, shown, self._end)

    def _end(self) -> None:
        self._run.enabled = True
        self.worker = None


def _volume(layer: Any) -> np.ndarray:
    return np.asarray(layer.data[0] if layer.multiscale else layer.data)


class InspectNoiseWidget(_FigureDock):
    """Is the noise uniform enough to train self-supervised? Per-slice plot and verdict."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self._image = create_widget(annotation=napari.layers.Image, label="image")
        super().__init__(viewer, [self._image], "Inspect noise")
        self.report: Any = None

    def start(self) -> None:
        layer = self._image.value
        if layer is None:
            notify_error(VemRestoreError("choose an image layer to inspect"))
            return
        volume, name = _volume(layer), layer.name

        def work() -> tuple[Any, Path]:
            from vemrestore.evaluation.noise import inspect_noise, plot_noise_report

            report = inspect_noise(volume)
            folder = Path(tempfile.mkdtemp(prefix="vemrestore-noise-"))
            return report, plot_noise_report(report, folder / "noise.png", name)

        self._run_work(work, self._shown)

    def _shown(self, result: tuple[Any, Path]) -> None:
        self.report, figure = result
        self.summary.value = "\n".join(self.report.summary())
        self._show_figure(figure)


class EvaluateWidget(_FigureDock):
    """A restored layer against a reference: PSNR, SSIM and FRC resolution, and FRC curves."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self._restored = create_widget(annotation=napari.layers.Image, label="restored")
        self._reference = create_widget(annotation=napari.layers.Image, label="reference")
        self._input = create_widget(
            annotation=napari.layers.Image, label="input (optional)", options={"nullable": True}
        )
        self.table = Table(value={"data": [], "columns": ["PSNR (dB)", "SSIM", "FRC res."]})
        super().__init__(
            viewer, [self._restored, self._reference, self._input, self.table], "Evaluate"
        )
        self.evaluation: Any = None

    def start(self) -> None:
        restored, reference = self._restored.value, self._reference.value
        if restored is None or reference is None:
            notify_error(VemRestoreError("choose a restored and a reference image layer"))
            return
        noisy = self._input.value
        arrays = [_volume(restored), _volume(reference), None if noisy is None else _volume(noisy)]
        for layer, array in zip((reference, noisy), arrays[1:], strict=True):
            if array is not None and array.shape != arrays[0].shape:
                notify_error(
                    VemRestoreError(
                        f"{layer.name}: shape {array.shape} differs from {restored.name} "
                        f"{arrays[0].shape}"
                    )
                )
                return
        pixel_size = float(restored.scale[-1]) if restored.scale[-1] != 1 else None

        def work() -> tuple[Any, Path]:
            from vemrestore.evaluation.quality import evaluate
            from vemrestore.evaluation.report import frc_figure

            evaluation = evaluate(*arrays, pixel_size=pixel_size)
            folder = Path(tempfile.mkdtemp(prefix="vemrestore-evaluate-"))
            frc_figure(evaluation, folder / "frc.png")
            return evaluation, folder / "frc.png"

        self._run_work(work, self._shown)

    def _shown(self, result: tuple[Any, Path]) -> None:
        from vemrestore.evaluation.quality import resolution

        self.evaluation, figure = result
        evaluation = self.evaluation
        rows, names = [], []
        for name, scores, curve in (
            ("restored", evaluation.scores, evaluation.frc_reference),
            ("input", evaluation.input_scores, evaluation.frc_input_reference),
        ):
            if scores is not None:
                names.append(name)
                rows.append(
                    [
                        round(scores.psnr, 2),
                        round(scores.ssim, 4),
                        f"{resolution(curve):.1f} {evaluation.unit}",
                    ]
                )
        self.table.value = {
            "data": rows,
            "index": names,
            "columns": ["PSNR (dB)", "SSIM", "FRC res."],
        }
        self.summary.value = f"{evaluation.shape} · FRC at the 1/7 threshold"
        self._show_figure(figure)
