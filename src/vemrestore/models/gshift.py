"""Grouped-shift network (``gshift``): the slow, strong reference the fast models are held to.

A re-implementation of the grouped spatial-temporal shift design for multi-frame restoration:
each slice is a 2D image processed with shared weights; slices exchange information only
through zero-cost shifts of half the channels along D, and a grouped spatial shift gives a
large receptive field cheaply. Layout (C0 full-resolution channels, C encoder channels)::

    stem (3×3 conv + channel-attention block, C0) → 3 small U-Nets      [full resolution]
      → down → shift blocks                                             [1/2, C]
        → down → shift blocks                                           [1/4, C]
      → up (+ skip) → shift blocks                                      [1/2, C]
    → up, fuse with the full-resolution features → 3 small U-Nets → 5×5 conv → + input

Defaults (C0 16, C 64, 8 + 24 + 8 shift blocks) give ~2.6 M parameters and ~0.74 MFLOP per
voxel, the scale of the published design (~4.7 M parameters), so speed comparisons against
it are honest (figures in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import torch
from torch import nn

from vemrestore.models.common import MAX_WINDOW, PointwiseConv2d, pad_to_multiple, require_int
from vemrestore.models.gshift_blocks import (
    ResidualChannelAttentionBlock,
    ShiftBlock,
    SmallResidualUNet,
)
from vemrestore.models.registry import register_model


def _upsample(in_channels: int, out_channels: int) -> nn.Sequential:
    """×2 upsampling: 1×1 conv at low resolution, then pixel shuffle (no FLOPs at high res)."""
    return nn.Sequential(PointwiseConv2d(in_channels, 4 * out_channels), nn.PixelShuffle(2))


@register_model("gshift")
class GShift(nn.Module):
    """Grouped-shift restoration network: (B, D, H, W) float32 → (B, D, H, W), any D ≥ 1.

    ``window``: slices per tile the engine feeds (the network itself accepts any D).
    ``full_res_channels``: C0, width of the full-resolution part.
    ``channels``: C, width at 1/2 and 1/4 resolution (≥ 24, to hold the 24 shifted groups).
    ``encoder_blocks`` / ``middle_blocks`` / ``decoder_blocks``: shift blocks at 1/2 (down),
    1/4 and 1/2 (up) resolution. H and W are padded internally to a multiple of 4.
    """

    def __init__(
        self,
        window: int = 5,
        full_res_channels: int = 16,
        channels: int = 64,
        encoder_blocks: int = 8,
        middle_blocks: int = 24,
        decoder_blocks: int = 8,
    ) -> None:
        super().__init__()
        self.window = require_int("window", window, 1, MAX_WINDOW)
        self.accepts_any_window = True
        self.size_multiple = 4
        base = require_int("full_res_channels", full_res_channels, 1, 256)
        require_int("channels", channels, 24, 512)
        counts = [
            require_int(name, value, 1, 64)
            for name, value in (
                ("encoder_blocks", encoder_blocks),
                ("middle_blocks", middle_blocks),
                ("decoder_blocks", decoder_blocks),
            )
        ]
        channels_per_offset = max(1, channels // 32)
        directions = iter([1, -1] * sum(counts))

        def shift_stage(count: int) -> nn.ModuleList:
            return nn.ModuleList(
                ShiftBlock(channels, next(directions), channels_per_offset) for _ in range(count)
            )

        self.stem = nn.Sequential(
            nn.Conv2d(1, base, 3, padding=1), ResidualChannelAttentionBlock(base)
        )
        self.early_unets = nn.Sequential(*[SmallResidualUNet(base) for _ in range(3)])
        self.down_to_half = nn.Conv2d(base, channels, 3, stride=2, padding=1)
        self.encoder = shift_stage(counts[0])
        self.down_to_quarter = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.middle = shift_stage(counts[1])
        self.up_to_half = _upsample(channels, channels)
        self.decoder = shift_stage(counts[2])
        self.up_to_full = _upsample(channels, base)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * base, base, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)
        )
        self.late_unets = nn.Sequential(*[SmallResidualUNet(base) for _ in range(3)])
        self.output = nn.Conv2d(base, 1, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, slices, height, width = x.shape
        padded = pad_to_multiple(x, self.size_multiple)
        padded_height, padded_width = padded.shape[-2], padded.shape[-1]
        # (B, D, H, W) → (B·D, 1, H, W): slices of an item stay consecutive for shift_slices.
        images = padded.reshape(batch * slices, 1, padded_height, padded_width)
        full = self.early_unets(self.stem(images))
        half = self.down_to_half(full)
        for block in self.encoder:
            half = block(half, slices)
        quarter = self.down_to_quarter(half)
        for block in self.middle:
            quarter = block(quarter, slices)
        decoded = self.up_to_half(quarter) + half
        for block in self.decoder:
            decoded = block(decoded, slices)
        fused = self.fuse(torch.cat([full, self.up_to_full(decoded)], dim=1))
        correction = self.output(self.late_unets(fused))
        correction = correction.reshape(batch, slices, padded_height, padded_width)
        return x + correction[..., :height, :width]
