"""The pass-through network: checks a pipeline end to end and measures pure engine overhead."""

import torch
from torch import nn

from vemrestore.models.registry import register_model


@register_model("identity")
class Identity(nn.Module):
    """Returns its input unchanged; ``window`` only sets the engine's default tile depth."""

    def __init__(self, window: int = 5) -> None:
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.accepts_any_window = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
