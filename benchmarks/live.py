"""Latency of live restoration (``vemrestore watch``): from a slice file being complete on disk
to its restored slice being stored, while a writer thread plays the microscope.

    python benchmarks/live.py                 # records benchmarks/RESULTS.md
    python benchmarks/live.py --slices 4 --no-record

The writer drops one 2048×2048 uint8 slice every ``--interval`` seconds (4 s: one SEM slice at
1 µs dwell) into a folder; ``api.watch`` follows it with the default (shipped) model and
default settings (settle 0.5 s, poll 0.2 s) into a growing Zarr. Latency counts the settle
time, so it is what a user sees. The machine load (``os.getloadavg``) is recorded beside it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from results import machine_info, update_section

from vemrestore.api.live import watch
from vemrestore.config import LiveConfig
from vemrestore.pretrained import DEFAULT_MODEL

SLICE = (2048, 2048)


def _acquire(folder: Path, slices: int, interval: float, written: dict[int, float]) -> None:
    rng = np.random.default_rng(0)
    for z in range(slices):
        started = time.monotonic()
        image = rng.integers(0, 256, size=SLICE, dtype=np.uint8)
        tifffile.imwrite(folder / f"slice_{z:04d}.tif", image)
        written[z] = time.monotonic()
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    time.sleep(interval)
    (folder / "acquisition.done").touch()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--interval", type=float, default=4.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    written: dict[int, float] = {}
    stored: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "acquisition"
        folder.mkdir()
        writer = threading.Thread(
            target=_acquire, args=(folder, args.slices, args.interval, written)
        )
        load_before = os.getloadavg()[0]
        writer.start()
        watch(
            folder,
            Path(scratch) / "live.zarr",
            DEFAULT_MODEL,
            live=LiveConfig(),
            on_slice=lambda z, _: stored.__setitem__(z, time.monotonic()),
        )
        writer.join()
        load_after = os.getloadavg()[0]
    latencies = np.array([stored[z] - written[z] for z in sorted(written)])
    print("latencies (s):", np.round(latencies, 2))
    body = (
        f"Command: `python benchmarks/live.py --slices {args.slices} --interval "
        f"{args.interval}`\n\n"
        f"Machine: {machine_info()}; torch threads 2; load average {load_before:.1f} before, "
        f"{load_after:.1f} after (other jobs shared the 2 cores).\n\n"
        f"Default model `{DEFAULT_MODEL.name}`, one {SLICE[0]}×{SLICE[1]} uint8 slice every "
        f"{args.interval:g} s, default live settings (a file counts as complete after 0.5 s "
        "unchanged; polled every 0.2 s). Latency = restored slice stored − slice file "
        "written, so it includes the 0.5 s settle time.\n\n"
        "| slices | median latency (s) | max latency (s) | target |\n|---:|---:|---:|---|\n"
        f"| {len(latencies)} | {np.median(latencies):.2f} | {latencies.max():.2f} | < 4 s |"
    )
    if not args.no_record:
        update_section("Live restoration latency (benchmarks/live.py)", body)
    print(body)


if __name__ == "__main__":
    main()
