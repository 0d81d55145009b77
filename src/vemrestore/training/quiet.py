"""Lightning's chatter silenced for one training run, its logger levels restored after.

Lightning prints banners ("GPU available"), tips and warnings on every run and resets its
loggers when imported; what a user must know about a run, vemrestore says itself. Light on
purpose (no Lightning import): the CLI imports the logger names at start-up.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities")


@contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Only errors from the loggers ``names`` for the ``with`` block; their levels restored."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [item.level for item in loggers]
    for item in loggers:
        item.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for item, level in zip(loggers, levels, strict=True):
            item.setLevel(level)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's loggers and all warnings for the ``with`` block."""
    with quiet_loggers(*LIGHTNING_LOGGERS), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
