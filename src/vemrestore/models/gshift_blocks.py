"""Building blocks of the grouped-shift network (``gshift``).

Every block works on per-slice 2D feature maps of shape (B·D, C, H, W), float32: the D
slices of each window share weights, like a batch. Only ``shift_slices`` looks across
slices, and it does so through a (B, D, C, H, W) view, so it never mixes batch items.
No block normalises across the batch, so batched tiles never influence each other.
"""

from __future__ import annotations

import torch
from torch import nn

from vemrestore.models.common import PointwiseConv2d

# Spatial displacements (dy, dx) of the grouped spatial shift: the 8 compass directions at 4
# and 8 pixels, plus the 8 knight-like offsets between them.
_COMPASS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
SPATIAL_OFFSETS: list[tuple[int, int]] = (
    [(4 * dy, 4 * dx) for dy, dx in _COMPASS]
    + [(8 * dy, 8 * dx) for dy, dx in _COMPASS]
    + [(sy * a, sx * b) for a, b in ((4, 8), (8, 4)) for sy in (-1, 1) for sx in (-1, 1)]
)


def shift_slices(features: torch.Tensor, slices: int, direction: int) -> torch.Tensor:
    """Move the first half of the channels one slice along D; zeros enter at the window end.

    ``features``: (B·D, C, H, W) with the D slices of each item consecutive. ``direction``
    +1 sends slice d's features to slice d + 1, -1 to slice d - 1. Costs no FLOPs, yet after
    the next convolution every slice sees its neighbour.
    """
    count, channels, height, width = features.shape
    window = features.reshape(count // slices, slices, channels, height, width)
    half = channels // 2
    moving = window[:, :, :half]
    fill = torch.zeros_like(moving[:, :1])
    if direction > 0:
        moved = torch.cat([fill, moving[:, :-1]], dim=1)
    else:
        moved = torch.cat([moving[:, 1:], fill], dim=1)
    return torch.cat([moved, window[:, :, half:]], dim=2).reshape(count, channels, height, width)


def displace(features: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``out[..., y, x] = features[..., y - dy, x - dx]``, zero where that falls outside."""
    height, width = features.shape[-2], features.shape[-1]
    padded = nn.functional.pad(features, [max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)])
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + height, left : left + width]


class GroupedSpatialShift(nn.Module):
    """Concatenates displaced copies of a channel group to the features: C → C + group.

    Sub-groups of ``channels_per_offset`` channels are each moved by one of
    ``SPATIAL_OFFSETS``, so the next 1×1 convolution sees pixels 4–8 px away at no FLOP cost.
    """

    def __init__(self, channels: int, channels_per_offset: int) -> None:
        super().__init__()
        self.channels_per_offset = channels_per_offset
        self.group_channels = channels_per_offset * len(SPATIAL_OFFSETS)
        if self.group_channels > channels:
            raise ValueError(
                f"{channels} channels cannot hold {len(SPATIAL_OFFSETS)} shifted sub-groups of "
                f"{channels_per_offset}"
            )
        self.offsets = SPATIAL_OFFSETS

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        parts = [features]
        step = self.channels_per_offset
        for index, (dy, dx) in enumerate(self.offsets):
            parts.append(displace(features[:, index * step : (index + 1) * step], dy, dx))
        return torch.cat(parts, dim=1)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of each pixel: per-sample, so tiles stay independent."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        variance = (x - mean).pow(2).mean(dim=1, keepdim=True)
        return (x - mean) * torch.rsqrt(variance + self.eps) * self.weight + self.bias


class ChannelAttention(nn.Module):
    """Re-weights channels from their mean over each slice (squeeze-and-excitation)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.weights = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            PointwiseConv2d(channels, hidden),
            nn.ReLU(inplace=True),
            PointwiseConv2d(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class ResidualChannelAttentionBlock(nn.Module):
    """Two 3×3 convolutions with channel attention, added to the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            ChannelAttention(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SmallResidualUNet(nn.Module):
    """One-level U-Net at full resolution (needs even H, W), added to its input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.encode = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)
        )
        self.bottom = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.ConvTranspose2d(2 * channels, channels, 2, stride=2),
        )
        self.decode = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self.encode(x)
        return x + self.decode(encoded + self.bottom(encoded))


def _depthwise(channels: int, kernel: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels)


class GatedBlock(nn.Module):
    """Gated convolution sub-block, added back through a per-channel scale that starts at zero.

    LayerNorm → 1×1 to 2C → depthwise 3×3 (+ identity) → multiply halves → depthwise k×k + 3×3
    (+ identity) → 1×1 to 2C → sigmoid gate → channel attention → 1×1. The zero scale makes a
    fresh block the identity, which keeps a deep stack trainable.
    """

    def __init__(self, channels: int, large_kernel: int = 5) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(channels)
        self.expand = PointwiseConv2d(channels, 2 * channels)
        self.local = _depthwise(2 * channels, 3)
        self.wide = _depthwise(channels, large_kernel)
        self.narrow = _depthwise(channels, 3)
        self.gate = PointwiseConv2d(channels, 2 * channels)
        self.attention = ChannelAttention(channels)
        self.project = PointwiseConv2d(channels, channels)
        self.scale = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.norm(x))
        y = y + self.local(y)
        value, weight = y.chunk(2, dim=1)
        y = value * weight
        y = y + self.wide(y) + self.narrow(y)
        value, weight = self.gate(y).chunk(2, dim=1)
        y = self.project(self.attention(value * torch.sigmoid(weight)))
        return x + self.scale * y


class ShiftBlock(nn.Module):
    """Slice shift + grouped spatial shift, a 1×1 fusion, then two gated sub-blocks.

    The fusion result is added to the input (so a stack of blocks starts near the identity);
    ``direction`` alternates between blocks so information flows both ways along D.
    """

    def __init__(self, channels: int, direction: int, channels_per_offset: int) -> None:
        super().__init__()
        self.direction = direction
        self.spatial_shift = GroupedSpatialShift(channels, channels_per_offset)
        self.fuse = PointwiseConv2d(channels + self.spatial_shift.group_channels, channels)
        self.gated = nn.Sequential(GatedBlock(channels), GatedBlock(channels))

    def forward(self, x: torch.Tensor, slices: int) -> torch.Tensor:
        shifted = self.spatial_shift(shift_slices(x, slices, self.direction))
        return self.gated(x + self.fuse(shifted))
