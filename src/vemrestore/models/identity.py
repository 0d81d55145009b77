"""The pass-through network: checks a pipeline end to end and measures pure engine overhead."""

import torch
from torch import nn

from vemrestore.models.common import MAX_WINDOW, require_int
from vemrestore.models.registry import register_model


@register_model("identity")
class Identity(nn.Module):
    """Returns its input unchanged; ``window`` only sets the engine's default tile depth."""

    def __init__(self, window: int = 5) -> None:
        super().__init__()
        self.window = require_int("window", window, 1, MAX_WINDOW)
        self.accepts_any_window = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
