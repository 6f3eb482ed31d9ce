"""What the supervisor measures of a run: its process tree's CPU and memory, and
whether the disk under the run folder is full.

Used by :mod:`runner.execution.supervisor` only; may import ``runner.core`` and
``runner.store``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ..core.status import error_record
from ..store import proc as _proc

#: Free bytes below which the run folder's filesystem counts as full.
FULL_BELOW = 64 * 1024


class Samples:
    """CPU and memory of the run's process tree, sampled with psutil."""

    def __init__(self) -> None:
        self.last: dict[str, float] | None = None
        self.peak_rss = 0
        self.cpu_time = 0.0
        self.count = 0
        self._prev: tuple[float, float] | None = None
        self.gpu: Any = None  # a GpuSampler when the run holds GPUs

    def take(self, pid: int) -> None:
        procs = _proc.tree(pid)
        rss = 0
        cpu = 0.0
        for p in procs:
            try:
                rss += p.memory_info().rss
                t = p.cpu_times()
                cpu += t.user + t.system
            except Exception:  # noqa: BLE001 - gone between listing and reading
                continue
        if not procs:
            return
        now = time.monotonic()
        percent = 0.0
        if self._prev is not None and now > self._prev[0]:
            percent = max(0.0, (cpu - self._prev[1]) / (now - self._prev[0]) * 100)
        self._prev = (now, cpu)
        self.peak_rss = max(self.peak_rss, rss)
        self.cpu_time = max(self.cpu_time, cpu)
        self.count += 1
        self.last = {"cpu_percent": round(percent, 1), "memory_rss_bytes": float(rss)}
        if self.gpu is not None:
            self.last.update(self.gpu.sample())

    def summary(self, rusage) -> dict[str, Any]:
        peak = self.peak_rss
        cpu = self.cpu_time
        if rusage is not None:
            scale = 1 if sys.platform == "darwin" else 1024
            peak = max(peak, int(rusage.ru_maxrss * scale))
            cpu = max(cpu, rusage.ru_utime + rusage.ru_stime)
        if not peak and not cpu and not self.count:
            return {}
        return {"peakMemoryBytes": peak, "cpuTimeSeconds": round(cpu, 3),
                "samples": self.count}


def is_no_space(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a full disk: ENOSPC or SQLITE_FULL."""
    import errno

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(exc) or "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def full_filesystem(run_dir: Path) -> str | None:
    """Where the run's filesystem is full (fewer than FULL_BELOW bytes free), or None."""
    try:
        st = os.statvfs(run_dir)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    if free >= FULL_BELOW:
        return None
    return f"the filesystem of the run folder {run_dir} is full ({free:,} bytes free)"


def no_space_error(where: str, error: dict[str, Any] | None) -> dict[str, Any]:
    """The run's error for a full disk, keeping what the script's failure said."""
    before = ((error or {}).get("error") or {}).get("message")
    message = f"No space left on device: {where}."
    if before:
        message += f" The run's own error: {before}"
    return error_record(message, code="NoSpaceLeft")
