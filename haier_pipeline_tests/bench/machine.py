"""The machine a benchmark ran on: its figures mean little without it."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def describe() -> dict[str, Any]:
    """Cores, CPU, memory, Python and the date; the load average says how busy the machine was meanwhile."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": load_average(),
    }


def one_line(machine: dict[str, Any]) -> str:
    load = machine.get("load_average_at_start") or []
    busy = f", load {load[0]} at start" if load else ""
    return (
        f"{machine['cores']} cores {machine['cpu_model']}, {machine['memory_gib']} GiB, Python {machine['python']}, "
        f"{machine['date'][:10]}{busy}"
    )
