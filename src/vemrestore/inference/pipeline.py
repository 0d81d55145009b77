"""Running the stages of a stream in background threads, a bounded number of items ahead.

NumPy, PyTorch and file reads release the GIL, so a stage running in a thread overlaps with
the others; a bounded queue between stages keeps memory fixed however long the stream.
An error in a stage is raised in the consumer; a consumer that stops early (an error while
writing, Ctrl-C) stops the stages behind it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TypeVar

T = TypeVar("T")

_POLL_S = 0.1
"""How often a producer blocked on a full queue checks whether the consumer has stopped."""


@dataclass
class StageTimes:
    """Seconds each stage of the engine spent working.

    Stages overlap in time when pipelined, so their sum may exceed the wall time; the
    slowest stage bounds the throughput. ``write`` is the time the consumer of the slices
    (a file writer) held each slice. On a GPU, device work is asynchronous: ``predict`` and
    ``blend`` then count the host time to queue it, and the wait shows up where a result is
    first needed (``write``).
    """

    read: float = 0.0
    normalise: float = 0.0
    predict: float = 0.0
    blend: float = 0.0
    write: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Add the time spent in the ``with`` block to ``stage``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, stage, getattr(self, stage) + time.perf_counter() - start)


_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def in_background(source: Iterator[T], *, ahead: int, name: str) -> Iterator[T]:
    """Yield the items of ``source``, computed in a daemon thread up to ``ahead`` items early.

    At most ``ahead`` items wait in the queue, plus one being made and one being used.
    """
    items: queue.Queue = queue.Queue(maxsize=ahead)
    stopped = threading.Event()

    def put(item: object) -> bool:
        while not stopped.is_set():
            try:
                items.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failure(error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stopped.set()
        thread.join()
