"""The small text grammars of settings: loss expressions (``"1*L1+0.5*SSIM"``) and durations
(``"1h30m"``). Plain functions raising ``ValueError``, so pydantic validators can call them and
report the field.
"""

from __future__ import annotations

import re
from datetime import timedelta

LOSS_TERMS = ("L1", "MSE", "HUBER", "SSIM")
_LOSS_TERM = re.compile(r"^\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?([A-Za-z0-9]+)\s*$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_loss(text: str) -> list[tuple[float, str]]:
    """``"1*L1+0.5*SSIM"`` → ``[(1.0, "L1"), (0.5, "SSIM")]``; names are case-insensitive."""
    terms = []
    for part in text.split("+"):
        match = _LOSS_TERM.match(part)
        if match is None:
            raise ValueError(f"loss term {part.strip()!r}: expected WEIGHT*NAME, e.g. 1*L1")
        weight = float(match.group(1) or 1.0)
        name = match.group(2).upper()
        if name not in LOSS_TERMS:
            raise ValueError(f"unknown loss {match.group(2)!r}; available: {', '.join(LOSS_TERMS)}")
        if weight <= 0:
            raise ValueError(f"loss weight of {name} must be > 0")
        terms.append((weight, name))
    return terms


def parse_duration(text: str) -> timedelta:
    """``"5m"``, ``"1h30m"``, ``"90s"``, ``"2d"`` → timedelta (must be > 0)."""
    match = _DURATION.match(text.strip().replace(" ", ""))
    if match is None or not any(match.groups()):
        raise ValueError(f"duration {text!r}: expected e.g. 90s, 5m, 1h30m, 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration.total_seconds() <= 0:
        raise ValueError(f"duration {text!r} must be > 0")
    return duration
