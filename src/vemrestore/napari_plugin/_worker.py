"""Running long work off the viewer's thread: one place for workers, progress and errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import QObject, Signal

from vemrestore.errors import user_message


class Cancelled(Exception):
    """Raised inside a worker when the user pressed Cancel/Stop."""


class Relay(QObject):
    """Carries values from a worker thread to the viewer's thread (a queued Qt signal)."""

    sent = Signal(object)


def notify_error(error: BaseException) -> None:
    """The CLI's one-line message for user mistakes; type and message for anything else."""
    message = user_message(error)
    show_error(message if message is not None else f"{type(error).__name__}: {error}")


def run_in_thread(
    work: Callable[[], Any],
    on_returned: Callable[[Any], None],
    on_finished: Callable[[], None],
) -> Any:
    """Run ``work()`` in a napari worker thread; errors (not cancellation) become notifications."""

    def errored(error: BaseException) -> None:
        if not isinstance(error, Cancelled):
            notify_error(error)

    connections = {"returned": on_returned, "errored": errored, "finished": on_finished}
    return create_worker(work, _connect=connections, _start_thread=True)


class ProgressClock:
    """'slice 3/16 · ETA 0:05' from the time since ``start``."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def text(self, done: int, total: int, unit: str = "slice") -> str:
        elapsed = time.monotonic() - self.started
        remaining = elapsed / done * (total - done) if done else 0.0
        minutes, seconds = divmod(int(round(remaining)), 60)
        return f"{unit} {done}/{total} · ETA {minutes}:{seconds:02d}"


def cancellable(event: threading.Event, relay: Relay) -> Callable[[int, int], None]:
    """A progress callback for the API: forwards (done, total) and raises once cancelled."""

    def on_progress(done: int, total: int) -> None:
        if event.is_set():
            raise Cancelled
        relay.sent.emit((done, total))

    return on_progress
