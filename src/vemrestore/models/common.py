"""Helpers shared by the networks: constructor argument checks and shape padding.

The padding helpers are TorchScript-compatible so every model stays scriptable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MAX_WINDOW = 256
"""Most slices a model window may hold: far above any EM use, and it keeps a crafted
checkpoint (``window: 10000000``) from allocating gigabytes before it is refused."""


class PointwiseConv2d(nn.Conv2d):
    """A 1×1 convolution computed as one matrix product; parameters as ``nn.Conv2d(c, o, 1)``.

    Why: on CPU, oneDNN sums a 1×1 convolution's channels in a different order with one
    thread than with several, so the output moved by a rounding step with the thread count,
    and a block run's workers disagreed with a single-process run in a few voxels. The
    matrix product gave the same bits with 1, 2 and 4 threads and any batch size (measured).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        weight = self.weight.reshape(self.out_channels, channels)
        out = torch.matmul(weight, x.reshape(batch, channels, height * width))
        bias = self.bias
        if bias is not None:
            out = out + bias.reshape(1, -1, 1)
        return out.reshape(batch, self.out_channels, height, width)


def require_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int in ``minimum..maximum``; else a ValueError naming it.

    Configs come from YAML/CLI, so a float such as ``16.0`` or a bool is refused rather than
    silently building a different network.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the last two axes (H, W) of a 4D tensor up to a multiple of ``multiple``.

    Padding goes at the bottom/right only, so ``x[..., :H, :W]`` of the result is the input.
    Replicate (not reflect) works for any size, even a single pixel.
    """
    height, width = x.shape[-2], x.shape[-1]
    pad_height = (multiple - height % multiple) % multiple
    pad_width = (multiple - width % multiple) % multiple
    if pad_height == 0 and pad_width == 0:
        return x
    return F.pad(x, [0, pad_width, 0, pad_height], mode="replicate")
