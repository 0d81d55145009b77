"""How a trained model restores a volume: the typed record a checkpoint carries.

Inference reads this record, never the raw training config: a new training option that
changes restoration adds a field here, so every reader of checkpoints sees it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vemrestore.config.normalization import NormalizationConfig

TaskName = Literal["supervised", "key_slices", "self_supervised", "synthetic", "recorrupted"]
InferenceMode = Literal["full", "sublattice"]


class RestorationSpec(BaseModel):
    """What a checkpoint needs to be applied as it was trained.

    ``task``: what it learned (None: unknown, e.g. a bare module or a foreign package);
    ``window``: slices per network input; ``any_window``: the network also runs on other
    slice counts; ``key_period``: a key-slice model's period (key slices every
    ``key_period`` slices, passed through), else None; ``inference``: ``sublattice`` restores
    the four 2×2 sub-lattices at half resolution (self-supervised models may ask for it),
    ``full`` the volume as it is; ``trained_electrons``: (low, high) electrons per pixel at
    white of a synthetic-noise model's training, None when unknown; ``input_spread``: the
    normalised intensity spread (low, high) of the training inputs, None when unknown.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskName | None = None
    window: int = Field(1, ge=1)
    any_window: bool = False
    key_period: int | None = Field(None, ge=1)
    inference: InferenceMode = "full"
    normalization: NormalizationConfig = NormalizationConfig()
    trained_electrons: tuple[float, float] | None = None
    input_spread: tuple[float, float] | None = None
