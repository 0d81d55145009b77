"""The Train dock widget: self-supervised training on an image layer, with a live curve.

Thin: it builds a ``TrainingConfig`` from the budget fields and calls
``vemrestore.training.run.train_on_volume`` in a worker thread. Each epoch's row (training
loss, validation PSNR) is plotted as it arrives. Stop ends the run after the current step;
the best checkpoint so far (else the last) is kept. "Use this model" offers it to the Restore
widget; "Save model" copies it to a file.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import Container, FileEdit, Label, PushButton, SpinBox, create_widget
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from vemrestore.config.training import TrainingConfig
from vemrestore.errors import VemRestoreError
from vemrestore.napari_plugin._models import TRAINED
from vemrestore.napari_plugin._worker import Relay, notify_error, run_in_thread


class TrainWidget(Container):
    """Train a self-supervised model on a noisy layer within a budget of steps and minutes."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self._viewer = viewer
        self._image = create_widget(annotation=napari.layers.Image, label="noisy image")
        self._steps = SpinBox(label="steps", value=2000, min=1, max=10_000_000)
        self._minutes = SpinBox(label="max minutes (0: none)", value=10, min=0, max=100_000)
        self._epoch_steps = SpinBox(label="steps per point", value=100, min=1, max=100_000)
        self._patch = SpinBox(label="patch (px)", value=64, min=16, max=1024, step=16)
        self._batch = SpinBox(label="batch size", value=8, min=1, max=1024)
        self._train = PushButton(text="Train")
        self._stop = PushButton(text="Stop", enabled=False)
        self._use = PushButton(text="Use this model", enabled=False)
        self._save_to = FileEdit(label="save as", mode="w", filter="*.pt", nullable=True)
        self._save = PushButton(text="Save model", enabled=False)
        self._status = Label(value="")
        super().__init__(
            widgets=[
                self._image,
                self._steps,
                self._minutes,
                self._epoch_steps,
                self._patch,
                self._batch,
                self._train,
                self._stop,
                self._status,
                self._use,
                self._save_to,
                self._save,
            ]
        )
        self.figure = Figure(figsize=(4, 2.6), tight_layout=True)
        self._loss_axes = self.figure.add_subplot(111)
        self._psnr_axes = self._loss_axes.twinx()
        self._canvas = FigureCanvasQTAgg(self.figure)
        self._canvas.setMinimumHeight(200)
        self.native.layout().addWidget(self._canvas)
        self.rows: list[dict[str, Any]] = []
        self.model_path: Path | None = None
        self.worker: Any = None
        self._stop_event = threading.Event()
        self._relay = Relay()
        self._relay.sent.connect(self._add_row)
        self._train.changed.connect(self.start)
        self._stop.changed.connect(self.stop)
        self._use.changed.connect(self.use_model)
        self._save.changed.connect(self.save_model)
        viewer.layers.events.inserted.connect(self.reset_choices)
        viewer.layers.events.removed.connect(self.reset_choices)
        self.reset_choices()

    def settings(self) -> TrainingConfig:
        """The training config the fields ask for."""
        minutes = self._minutes.value
        return TrainingConfig(
            epochs=None,
            steps=self._steps.value,
            max_time=f"{minutes}m" if minutes else None,
            steps_per_epoch=self._epoch_steps.value,
            patch_size=(self._patch.value, self._patch.value),
            batch_size=self._batch.value,
            validation={"patches": 8},
        )

    def start(self) -> None:
        """Train on the chosen layer in a worker thread."""
        if self.worker is not None:
            return
        layer = self._image.value
        if layer is None:
            notify_error(VemRestoreError("choose a noisy image layer to train on"))
            return
        data = np.asarray(layer.data[0] if layer.multiscale else layer.data)
        config = self.settings()
        run_dir = Path(tempfile.mkdtemp(prefix=f"vemrestore-{layer.name}-"))
        self._name = layer.name
        stop, relay = self._stop_event, self._relay

        def work() -> Any:
            from vemrestore.training.run import train_on_volume

            return train_on_volume(
                data, run_dir / "run", config=config, on_epoch=relay.sent.emit, stop=stop
            )

        self._stop_event.clear()
        self.rows.clear()
        self.model_path = None
        self._redraw()
        self._status.value = "training…"
        self._train.enabled, self._stop.enabled = False, True
        self._use.enabled = self._save.enabled = False
        self.worker = run_in_thread(work, self._finished, self._end)

    def stop(self) -> None:
        """End training after the current step; the best checkpoint is kept."""
        self._stop_event.set()

    def _add_row(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))
        self._redraw()
        psnr = row.get("val_psnr")
        self._status.value = f"step {row['step']}" + (f" · val PSNR {psnr:.2f} dB" if psnr else "")

    def _redraw(self) -> None:
        loss, psnr = self._loss_axes, self._psnr_axes
        loss.clear()
        psnr.clear()
        steps = [row["step"] for row in self.rows]
        loss.plot(steps, [row.get("train_loss", np.nan) for row in self.rows], "o-", color="C0")
        psnr.plot(steps, [row.get("val_psnr", np.nan) for row in self.rows], "s-", color="C1")
        loss.set_xlabel("step")
        loss.set_ylabel("training loss", color="C0")
        psnr.set_ylabel("validation PSNR (dB)", color="C1")
        self._canvas.draw_idle()

    def _finished(self, result: Any) -> None:
        self.model_path = result.best if result.best.is_file() else result.last
        kept = "best" if result.best.is_file() else "last"
        comparison = result.start_comparison
        if comparison is not None and comparison.keeps_start:
            kept = "starting model kept: fine-tuning did not improve it"
        elif comparison is not None and comparison.best_share < 1.0:
            kept = f"kept {comparison.kept()}"
        else:
            kept = f"{kept} checkpoint kept"
        self._status.value = f"done: {result.steps} steps, {kept}"
        self._use.enabled = self._save.enabled = True

    def _end(self) -> None:
        self._train.enabled, self._stop.enabled = True, False
        self.worker = None

    def use_model(self) -> None:
        """Offer the trained model in the Restore widget's model picker (and select it)."""
        if self.model_path is not None:
            TRAINED.add(f"{self._name} ({self.model_path.parent.parent.name})", self.model_path)

    def save_model(self) -> None:
        """Copy the trained checkpoint to the chosen file."""
        if self.model_path is None or not self._save_to.value:
            notify_error(VemRestoreError("train a model and choose a file to save it to"))
            return
        target = Path(self._save_to.value).with_suffix(".pt")
        shutil.copyfile(self.model_path, target)
        self._status.value = f"saved {target}"
