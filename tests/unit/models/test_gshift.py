"""gshift's shifts: slices exchange information within a window, never across batch items."""

from __future__ import annotations

import torch

from vemrestore.models import create_model
from vemrestore.models.gshift_blocks import displace, shift_slices


def numbered_features(batch: int, slices: int, channels: int) -> torch.Tensor:
    """(B·D, C, 2, 2) features whose value encodes (item, slice, channel)."""
    values = torch.arange(batch * slices * channels, dtype=torch.float32) + 1
    return values.reshape(batch * slices, channels, 1, 1).expand(-1, -1, 2, 2).contiguous()


def test_shift_slices_moves_half_the_channels_one_slice_forward():
    features = numbered_features(batch=2, slices=3, channels=4)
    shifted = shift_slices(features, slices=3, direction=1).reshape(2, 3, 4, 2, 2)
    original = features.reshape(2, 3, 4, 2, 2)
    assert torch.equal(shifted[:, 1:, :2], original[:, :-1, :2])
    assert torch.equal(shifted[:, 0, :2], torch.zeros_like(shifted[:, 0, :2]))
    assert torch.equal(shifted[:, :, 2:], original[:, :, 2:])


def test_shift_slices_moves_backward_with_zero_fill_at_the_last_slice():
    features = numbered_features(batch=2, slices=3, channels=4)
    shifted = shift_slices(features, slices=3, direction=-1).reshape(2, 3, 4, 2, 2)
    original = features.reshape(2, 3, 4, 2, 2)
    assert torch.equal(shifted[:, :-1, :2], original[:, 1:, :2])
    assert torch.equal(shifted[:, -1, :2], torch.zeros_like(shifted[:, -1, :2]))


def test_shift_slices_never_moves_features_between_batch_items():
    features = numbered_features(batch=2, slices=3, channels=4)
    perturbed = features.clone()
    perturbed[:3] += 100.0  # every slice of item 0
    for direction in (1, -1):
        before = shift_slices(features, 3, direction)
        after = shift_slices(perturbed, 3, direction)
        assert torch.equal(before[3:], after[3:])


def test_shift_slices_of_a_single_slice_only_zeroes_the_moved_half():
    features = numbered_features(batch=2, slices=1, channels=4)
    shifted = shift_slices(features, 1, 1)
    assert torch.equal(shifted[:, :2], torch.zeros_like(shifted[:, :2]))
    assert torch.equal(shifted[:, 2:], features[:, 2:])


def test_displace_moves_content_and_fills_zeros():
    image = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    moved = displace(image, 1, -2)
    assert torch.equal(moved[0, 0, 1:, :2], image[0, 0, :3, 2:])
    assert moved[0, 0, 0].abs().sum() == 0 and moved[0, 0, :, 2:].abs().sum() == 0
    assert displace(image, 8, 8).abs().sum() == 0


def test_gshift_mixes_neighbouring_slices_but_not_batch_items():
    torch.manual_seed(0)
    model = create_model(
        "gshift",
        full_res_channels=8,
        channels=24,
        encoder_blocks=1,
        middle_blocks=1,
        decoder_blocks=1,
    ).eval()
    x = torch.rand(2, 5, 16, 16)
    perturbed = x.clone()
    perturbed[0, 0] += 0.5
    with torch.inference_mode():
        before, after = model(x), model(perturbed)
    assert not torch.allclose(before[0, 1], after[0, 1], atol=1e-6), "slice 1 ignores slice 0"
    torch.testing.assert_close(before[1], after[1], atol=1e-6, rtol=0)
