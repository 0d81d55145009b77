"""Run by every local Dask worker process at start-up (a Dask "preload" module).

Ctrl-C in a terminal reaches every process of the foreground group, workers included. The
run in the main process handles it (finished blocks kept, one line, exit 130) and closes the
cluster; a worker that also raised KeyboardInterrupt printed a page of tracebacks first.
"""

from __future__ import annotations

import signal

from distributed import Worker


def dask_setup(worker: Worker) -> None:
    """Leave Ctrl-C to the main process: it stops the workers when it closes the cluster."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
