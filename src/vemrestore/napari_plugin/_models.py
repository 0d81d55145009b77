"""The model picker shared by the widgets: shipped models, a file, and models trained here."""

from __future__ import annotations

from pathlib import Path

import torch
from magicgui.widgets import ComboBox, Container, FileEdit
from psygnal import Signal

from vemrestore.pretrained import DEFAULT_MODEL, shipped_models

FILE_CHOICE = "checkpoint or bioimage.io file…"


class _TrainedModels:
    """Models trained in this session ("use this model" in the Train widget)."""

    added = Signal(str, object)

    def __init__(self) -> None:
        self.models: dict[str, Path] = {}

    def add(self, name: str, path: Path) -> None:
        self.models[name] = Path(path)
        self.added.emit(name, Path(path))


TRAINED = _TrainedModels()


def devices() -> list[str]:
    """What the device box offers: auto, cpu and the accelerators torch sees."""
    choices = ["auto", "cpu"]
    choices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        choices.append("mps")
    return choices


class ModelPicker(Container):
    """A choice of model; ``path`` is the checkpoint file it stands for."""

    def __init__(self) -> None:
        self._file = FileEdit(label="model file", mode="r", visible=False)
        self._choice = ComboBox(label="model", choices=self._choices())
        self._choice.value = DEFAULT_MODEL.stem
        super().__init__(widgets=[self._choice, self._file], labels=True)
        self.margins = (0, 0, 0, 0)
        self._choice.changed.connect(self._toggle_file)
        TRAINED.added.connect(self._trained)

    def _choices(self) -> list[str]:
        return [*shipped_models(), *(f"trained: {n}" for n in TRAINED.models), FILE_CHOICE]

    def _toggle_file(self, value: str) -> None:
        self._file.visible = value == FILE_CHOICE

    def _trained(self, name: str, path: Path) -> None:
        try:
            self._choice.choices = self._choices()
        except RuntimeError:  # this picker's Qt widget was closed with its viewer
            TRAINED.added.disconnect(self._trained)
            return
        self._choice.value = f"trained: {name}"

    @property
    def path(self) -> Path:
        value = self._choice.value
        if value == FILE_CHOICE:
            return Path(self._file.value)
        if value.startswith("trained: "):
            return TRAINED.models[value.removeprefix("trained: ")]
        return shipped_models()[value]
