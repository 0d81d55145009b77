"""The loss and duration grammars of training settings."""

import pytest

from vemrestore.config.grammar import parse_duration, parse_loss


def test_loss_and_duration_parsing() -> None:
    assert parse_loss("1*L1+0.5*ssim") == [(1.0, "L1"), (0.5, "SSIM")]
    assert parse_loss("MSE") == [(1.0, "MSE")]
    assert parse_duration("1h30m").total_seconds() == 5400
    for bad in ("1*L3", "L1+", "-1*L1"):
        with pytest.raises(ValueError):
            parse_loss(bad)
    with pytest.raises(ValueError):
        parse_duration("5 minutes")
