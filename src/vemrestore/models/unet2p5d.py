"""A compact 2.5D U-Net: the fast default network for CPU restoration.

The D slices of a window are the input channels of 2D convolutions, so the whole window is
restored in one pass at 2D cost. Design choices for CPU speed:

- plain 3×3 convolutions + LeakyReLU, no normalisation layers: inference batches tiles, and a
  batch norm would let tiles influence each other;
- stride-2 convolutions to go down, 1×1 convolution + bilinear upsampling to go up, and
  additive skips (cheaper than concatenation, same receptive field);
- channel count doubles per level, so each level costs about the same FLOPs per voxel while
  the coarse levels buy most of the receptive field;
- residual output: the network predicts a correction to its noisy input.

Defaults (base 16, depth 4): the fourth level doubles the receptive field (43 → 87 px) for
~35% more FLOPs but only ~5-10% less whole-volume throughput (``restore``, where tiling
overhead weighs in); base 24 would halve the speed (figures in benchmarks/RESULTS.md).

``gaussian_blend`` averages the restoration with a Gaussian filter of the input whose σ is
fitted, per tile, to the restoration itself (no clean data needed). On EM the network never
saw, its errors and a matched Gaussian's are partly independent, so their weighted mean beats
both; it also keeps some of the fine texture a slow scan carries and the network removes.
It adds no weights: fine-tuning starts from the same state dict.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vemrestore.models.common import MAX_WINDOW, PointwiseConv2d, pad_to_multiple, require_int
from vemrestore.models.registry import register_model


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
    )


def _down_level(in_channels: int, out_channels: int, bottom: bool) -> nn.Sequential:
    """Stride-2 conv down, then one conv (two at the bottom level, where they are cheapest)."""
    convs = [_conv3x3(out_channels, out_channels) for _ in range(2 if bottom else 1)]
    return nn.Sequential(_conv3x3(in_channels, out_channels, stride=2), *convs)


class _UpLevel(nn.Module):
    """Brings features one level up: 1×1 conv at low resolution (cheap), upsample, add skip."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.reduce = PointwiseConv2d(in_channels, out_channels)
        self.refine = _conv3x3(out_channels, out_channels)

    def forward(self, low: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.reduce(low), scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.refine(up + skip)


BLEND_SIGMAS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6, 2.0, 2.5)
"""Gaussian σ (px) ``gaussian_blend`` chooses from: the range tuned Gaussians take on the
generalisation grid's calibration crops (0.7-3 px) and finer, for weak noise."""


def _gaussian_bank(sigmas: tuple[float, ...]) -> torch.Tensor:
    """(len(sigmas), taps) normalised 1D Gaussians, all sampled to ±3σ of the widest."""
    radius = math.ceil(3 * max(sigmas))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    bank = torch.exp(-0.5 * (offsets[None, :] / torch.tensor(sigmas)[:, None]) ** 2)
    return bank / bank.sum(dim=1, keepdim=True)


@register_model("unet2p5d")
class UNet2p5D(nn.Module):
    """2.5D U-Net: (B, D, H, W) float32 → (B, D, H, W), slices as channels.

    ``window``: slices D the network is built for (its input/output channels).
    ``base_channels``: width at full resolution; level ``i`` has ``base_channels · 2**i``.
    ``depth``: number of resolution levels (1 = no downsampling); H and W are padded
    internally to a multiple of ``2**(depth - 1)`` and cropped back.
    ``gaussian_blend``: weight (0-1) of the fitted Gaussian in the output; 0 = the network.
    """

    def __init__(
        self, window: int = 5, base_channels: int = 16, depth: int = 4, gaussian_blend: float = 0.0
    ) -> None:
        super().__init__()
        self.window = require_int("window", window, 1, MAX_WINDOW)
        if isinstance(gaussian_blend, bool) or not isinstance(gaussian_blend, (int, float)):
            raise ValueError(f"gaussian_blend must be a number in 0..1, got {gaussian_blend!r}")
        if not 0.0 <= gaussian_blend <= 1.0:
            raise ValueError(f"gaussian_blend must be in 0..1, got {gaussian_blend}")
        self.gaussian_blend = float(gaussian_blend)
        # derived from BLEND_SIGMAS, so not persistent: the state dict is the network's alone
        self.register_buffer("blend_bank", _gaussian_bank(BLEND_SIGMAS), persistent=False)
        require_int("base_channels", base_channels, 1, 256)
        require_int("depth", depth, 1, 6)
        widths = [base_channels * 2**level for level in range(depth)]
        self.size_multiple = 2 ** (depth - 1)
        self.stem = nn.Sequential(_conv3x3(window, widths[0]), _conv3x3(widths[0], widths[0]))
        self.down_levels = nn.ModuleList(
            _down_level(widths[level - 1], widths[level], bottom=level == depth - 1)
            for level in range(1, depth)
        )
        self.up_levels = nn.ModuleList(
            _UpLevel(widths[level], widths[level - 1]) for level in range(depth - 1, 0, -1)
        )
        self.head = nn.Conv2d(widths[0], window, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.window:
            raise ValueError(f"unet2p5d was built for {self.window} slices, got {x.shape[1]}")
        height, width = x.shape[-2], x.shape[-1]
        padded = pad_to_multiple(x, self.size_multiple)
        features = self.stem(padded)
        skips: list[torch.Tensor] = []
        for down in self.down_levels:
            skips.append(features)
            features = down(features)
        for index, up in enumerate(self.up_levels):
            features = up(features, skips[len(skips) - 1 - index])
        correction = self.head(features)
        restored = x + correction[..., :height, :width]
        if self.gaussian_blend > 0:
            restored = self._blend(x, restored)
        return restored

    def _blend(self, x: torch.Tensor, restored: torch.Tensor) -> torch.Tensor:
        """``restored`` mixed with the Gaussian of ``x`` closest to it by MSE. Every σ is tried
        on every 8th row of the tile, then only the chosen σ filters the whole tile, as shifted
        sums weighted per tile: a few % of the network's time, and nothing depends on the data
        or the tile size, so the model still exports to ONNX."""
        slices, height, width = x.shape[1], x.shape[2], x.shape[3]
        bank = self.blend_bank
        count, taps = bank.shape[0], bank.shape[1]
        radius = taps // 2
        padded = F.pad(x, [radius, radius, radius, radius], mode="replicate")
        kernels = bank.repeat(slices, 1)  # (slices · count, taps): every σ for every slice
        sampled = F.conv2d(padded, kernels.reshape(-1, 1, taps, 1), stride=(8, 1), groups=slices)
        sampled = F.conv2d(sampled, kernels.reshape(-1, 1, 1, taps), groups=slices * count)
        sampled = sampled.unflatten(1, (slices, count))
        target = restored[..., ::8, :].unsqueeze(2)
        errors = (sampled - target).square().mean(dim=(1, 3, 4))
        weights = bank[errors.argmin(dim=1)][:, None, None, None, :]
        rows = weights[..., 0] * padded[..., :, 0:width]
        for tap in range(1, taps):  # addcmul: one pass over the tile per tap
            rows = torch.addcmul(rows, weights[..., tap], padded[..., :, tap : tap + width])
        fitted = weights[..., 0] * rows[..., 0:height, :]
        for tap in range(1, taps):
            fitted = torch.addcmul(fitted, weights[..., tap], rows[..., tap : tap + height, :])
        return (1.0 - self.gaussian_blend) * restored + self.gaussian_blend * fitted
