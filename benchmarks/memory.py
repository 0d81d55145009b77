"""Peak resident memory of the calling process, as the benchmarks record it."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def peak_rss_mib() -> float:
    """This process's own peak RSS in MiB.

    Linux's ``ru_maxrss`` is carried across fork and exec: a child spawned by a parent that
    once held 17 GiB reports at least 17 GiB, whatever it used itself. ``VmHWM`` in
    ``/proc/self/status`` is the high-water mark of this process's own address space, so it is
    read where it exists; elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS) is the answer.
    """
    if _STATUS.exists():
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024
