"""The Restore dock widget: restore an image layer (or a file, opened lazily) with a model.

Thin: it gathers the options, calls ``vemrestore.api`` in a worker thread and adds the result
as a layer with the input's scale. Small inputs are restored in memory
(``api.restore``); large or lazy ones, or any input when an output is named, go out of core
into a file (``api.restore_array_file``) that is then shown lazily. Cancel stops after the
current slice and leaves no layer and no file. Live mode follows a folder the microscope
writes into (``live.watch``) and shows the growing Zarr output.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)

from vemrestore import api
from vemrestore.api.live import watch
from vemrestore.config import InferenceConfig, LiveConfig
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.files import load_checkpoint
from vemrestore.napari_plugin._models import ModelPicker, devices
from vemrestore.napari_plugin._worker import (
    ProgressClock,
    Relay,
    cancellable,
    notify_error,
    run_in_thread,
)

IN_MEMORY_LIMIT = 1 << 30
"""Inputs above this many bytes, or not numpy arrays, are restored out of core into a file."""


class RestoreWidget(Container):
    """Restore a layer with a shipped, trained or file model; progress, ETA and Cancel."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self._viewer = viewer
        self._image = create_widget(annotation=napari.layers.Image, label="image")
        self._open = FileEdit(label="open file", mode="r", nullable=True)
        self.model = ModelPicker()
        self._device = ComboBox(label="device", choices=devices(), value="auto")
        self._tile = SpinBox(label="tile (px)", value=256, min=16, max=8192, step=16)
        self._batch = SpinBox(label="batch size", value=4, min=1, max=4096)
        self._output = FileEdit(label="output (.zarr)", mode="w", nullable=True)
        self._run = PushButton(text="Restore")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(value=0, min=0, max=1, label="progress")
        self._status = Label(value="")
        self._live = CheckBox(text="Live: follow a folder the microscope writes into")
        self._live_folder = FileEdit(label="acquisition folder", mode="d", nullable=True)
        super().__init__(
            widgets=[
                self._image,
                self._open,
                self.model,
                self._device,
                self._tile,
                self._batch,
                self._output,
                self._live,
                self._live_folder,
                self._run,
                self._cancel,
                self._progress,
                self._status,
            ]
        )
        self._cancel_event = threading.Event()
        self._relay = Relay()
        self._relay.sent.connect(self._on_progress)
        self._clock = ProgressClock()
        self.worker: Any = None
        self._live_layer: Any = None
        self._open.changed.connect(self._open_file)
        self._run.changed.connect(self.start)
        self._cancel.changed.connect(self.cancel)
        viewer.layers.events.inserted.connect(self.reset_choices)
        viewer.layers.events.removed.connect(self.reset_choices)
        self.reset_choices()

    def _open_file(self, path: Path | None) -> None:
        """Add a file as a lazy layer (read slice by slice as viewed or restored)."""
        if not path:
            return
        try:
            data, voxel_size = api.open_lazily(path)
        except VemRestoreError as error:
            notify_error(error)
            return
        layer = self._viewer.add_image(data, name=Path(path).stem, scale=voxel_size or None)
        self._image.value = layer

    def config(self, model_path: Path) -> tuple[Any, InferenceConfig]:
        """The checkpoint and the settings the widget's fields ask for (tile depth: the window)."""
        checkpoint = load_checkpoint(model_path)
        window = int(getattr(checkpoint.model, "window", 1))
        tile = self._tile.value
        config = InferenceConfig(
            tile=(window, tile, tile), batch_size=self._batch.value, device=self._device.value
        )
        return checkpoint, config

    def start(self) -> None:
        """Start restoring the chosen layer, or following the chosen folder in Live mode."""
        if self.worker is not None:
            return
        if self._live.value:
            self._start_live()
            return
        layer = self._image.value
        if layer is None:
            notify_error(VemRestoreError("choose an image layer to restore (or open a file)"))
            return
        data = layer.data[0] if layer.multiscale else layer.data
        output = Path(self._output.value) if self._output.value else None
        if output is None and (not isinstance(data, np.ndarray) or data.nbytes > IN_MEMORY_LIMIT):
            notify_error(
                VemRestoreError(f"{layer.name}: large or lazy input; choose an output .zarr")
            )
            return
        model_path = self.model.path
        on_progress = cancellable(self._cancel_event, self._relay)
        voxel_size = tuple(float(s) for s in layer.scale[-3:]) if data.ndim == 3 else None

        def work() -> tuple[np.ndarray | Path, Any]:
            checkpoint, config = self.config(model_path)
            if output is None:
                return api.restore(data, checkpoint, config=config, on_slice=on_progress), layer
            api.restore_array_file(
                data, output, checkpoint, config=config, voxel_size=voxel_size, on_slice=on_progress
            )
            return output, layer

        self._begin(data.shape[0] if data.ndim == 3 else 1)
        self.worker = run_in_thread(work, self._add_result, self._end)

    def _start_live(self) -> None:
        folder, output = self._live_folder.value, self._output.value
        if not folder or not output or Path(output).suffix != ".zarr":
            notify_error(
                VemRestoreError("Live mode needs an acquisition folder and an output .zarr")
            )
            return
        model_path = self.model.path
        stop, relay = self._cancel_event, _LiveRelay(self._relay)

        def work() -> None:
            checkpoint, config = self.config(model_path)
            live = LiveConfig(done_file=None)
            watch(
                folder,
                output,
                checkpoint,
                config=config,
                live=live,
                stop=stop,
                on_slice=relay.emit_live,
            )

        self._live_output = Path(output)
        self._begin(0)
        self._status.value = f"following {folder}"
        self.worker = run_in_thread(work, lambda _: None, self._end)

    def cancel(self) -> None:
        """Stop after the current slice: nothing is added or left on disk (Live: finish)."""
        self._cancel_event.set()

    def _begin(self, total: int) -> None:
        self._cancel_event.clear()
        self._clock = ProgressClock()
        self._progress.max = max(total, 1)
        self._progress.value = 0
        self._status.value = "loading the model"
        self._run.enabled, self._cancel.enabled = False, True

    def _on_progress(self, value: tuple) -> None:
        if value[0] == "live":
            self._show_live(value[1])
            return
        done, total = value
        self._progress.max, self._progress.value = total, done
        self._status.value = self._clock.text(done, total)

    def _show_live(self, z: int) -> None:
        """Show the live output's slices so far (lazily, from the growing Zarr store)."""
        data, voxel_size = api.open_lazily(self._live_output)
        if self._live_layer is None or self._live_layer not in self._viewer.layers:
            name = f"{self._live_output.name} (live)"
            self._live_layer = self._viewer.add_image(data, name=name, scale=voxel_size)
        else:
            self._live_layer.data = data
        self._status.value = f"restored slice {z}"

    def _add_result(self, value: tuple[np.ndarray | Path, Any]) -> None:
        result, layer = value
        if isinstance(result, Path):
            result, _ = api.open_lazily(result)
        self._viewer.add_image(
            result,
            name=f"{layer.name} restored",
            scale=layer.scale,
            translate=layer.translate,
        )
        self._status.value = "done"

    def _end(self) -> None:
        if self._cancel_event.is_set() and not self._live.value:
            self._status.value = "cancelled"
        self._run.enabled, self._cancel.enabled = True, False
        self.worker = None


class _LiveRelay:
    """Forwards live slices to the viewer's thread as ("live", z)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def emit_live(self, z: int, image: np.ndarray) -> None:
        self.relay.sent.emit(("live", z))
