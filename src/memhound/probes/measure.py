"""``memhound.memory()``: one reading of a process's memory."""

from __future__ import annotations

import os
import time

from memhound.model.readings import MemoryReading
from memhound.probes import process as proc
from memhound.probes import python as py


def memory(pid: int | None = None, *, count_objects: bool = True) -> MemoryReading:
    """Read the memory of ``pid`` (default: this process) now.

    RSS, PSS, USS and swap come from the kernel; the Python heap (when tracemalloc is
    tracing) and the gc figures are only known for this process. ``count_objects=False``
    skips counting gc-tracked objects, which costs ~13 ms per million objects.

    Raises ProcessNotFound for a pid that does not exist and AccessDenied for one we may
    not read: never a silent 0.

    >>> r = memhound.memory()
    >>> print(r)              # rss 43.1 MiB  pss 40.2 MiB  uss 38.0 MiB  swap 0 B  ...
    >>> r.rss_bytes
    45191168
    """
    own = pid is None or pid == os.getpid()
    target = os.getpid() if pid is None else int(pid)
    if target <= 0:
        from memhound.errors import ProcessNotFound

        raise ProcessNotFound(f"no process with pid {target}", hint="a pid is a positive integer")
    status = proc.read_status(target)
    if status.is_exiting:
        from memhound.errors import ProcessNotFound

        raise ProcessNotFound(
            f"process {target} has exited"
            + (" (a zombie waiting for its parent to reap it)" if status.is_zombie else "")
        )
    rollup = proc.read_rollup(target)
    traced = py.traced_memory() if own else None
    return MemoryReading(
        pid=target,
        time_s=time.time(),
        rss_bytes=status.rss_bytes,
        pss_bytes=rollup.pss_bytes,
        uss_bytes=rollup.uss_bytes,
        swap_bytes=rollup.swap_bytes,
        peak_rss_bytes=status.peak_rss_bytes,
        traced_current_bytes=traced[0] if traced else None,
        traced_peak_bytes=traced[1] if traced else None,
        gc_counts=py.gc_counts() if own else None,
        gc_tracked_objects=py.gc_tracked_objects() if own and count_objects else None,
        threads=status.threads,
        open_fds=proc.count_fds(target),
    )
