"""Shared by the benchmark scripts: machine facts and section-wise updates of RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine_info() -> str:
    """One line naming the CPU, core count, memory and library versions."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = names[0].strip() if names else cpu
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_gib:.0f} GiB RAM, Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )


def update_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of RESULTS.md, keeping the others."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def load_average() -> str:
    """The 1/5/15-minute load average, e.g. ``2.1/1.8/1.5`` (timings depend on it)."""
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def publish(title: str, body: str, record: bool) -> None:
    """Print a section and, if ``record``, put it into RESULTS.md."""
    print(body)
    if record:
        update_section(title, body)
