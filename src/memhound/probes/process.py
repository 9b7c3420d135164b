"""Process memory from procfs: cheap per-tick figures and the dearer PSS/USS rollup.

``status`` costs tens of microseconds. ``smaps_rollup`` walks the target's page tables
under its mmap lock: 11-15 ms per GiB of RSS on this project's machine (measured in
``bench/``), so samplers read it at a slower, cost-aware cadence.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from memhound._platform import IS_LINUX, PROC
from memhound.errors import AccessDenied, PlatformNotSupported, ProcessNotFound


@dataclass(frozen=True)
class ProcStatus:
    """The cheap per-tick figures of one process (``/proc/PID/status``)."""

    pid: int
    ppid: int
    name: str
    state: str
    rss_bytes: int
    peak_rss_bytes: int
    swap_bytes: int
    threads: int
    #: False once the process has released its address space on the way out (``status`` then
    #: has no ``Vm*`` lines), which happens before it turns into a zombie.
    has_memory: bool = True

    @property
    def is_zombie(self) -> bool:
        return self.state.startswith(("Z", "X"))

    @property
    def is_exiting(self) -> bool:
        """A zombie, or a process in its exit whose memory is already gone (RSS reads 0)."""
        return self.is_zombie or not self.has_memory


@dataclass(frozen=True)
class Rollup:
    """PSS, USS and swap of one process (``/proc/PID/smaps_rollup``)."""

    rss_bytes: int
    pss_bytes: int
    uss_bytes: int
    swap_bytes: int


@contextmanager
def _translate(pid: int, what: str) -> Iterator[None]:
    try:
        yield
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise ProcessNotFound(
            f"no process with pid {pid} (it does not exist or has exited)",
            hint="check the pid with `ps -p PID`",
        ) from exc
    except PermissionError as exc:
        raise AccessDenied(
            f"not allowed to read the {what} of pid {pid}",
            hint="run memhound as the same user as the process, or as root",
        ) from exc


def _require_linux() -> None:
    if not IS_LINUX:
        raise PlatformNotSupported(
            "reading PSS/USS needs Linux's /proc", hint="memhound's process probes are Linux-only"
        )


def read_status(pid: int) -> ProcStatus:
    """Read ``/proc/PID/status``. Raises ProcessNotFound or AccessDenied, never returns 0s."""
    _require_linux()
    with _translate(pid, "status"), open(f"/proc/{pid}/status", "rb") as fh:
        raw = fh.read()
    values: dict[bytes, bytes] = {}
    for line in raw.split(b"\n"):
        key, _, value = line.partition(b":")
        values[key] = value.strip()

    def kib(key: bytes) -> int:
        v = values.get(key)
        return int(v.split()[0]) * 1024 if v else 0

    return ProcStatus(
        pid=pid,
        ppid=int(values.get(b"PPid", b"0") or 0),
        name=values.get(b"Name", b"?").decode("utf-8", "replace"),
        state=values.get(b"State", b"?").decode("ascii", "replace"),
        rss_bytes=kib(b"VmRSS"),
        peak_rss_bytes=kib(b"VmHWM"),
        swap_bytes=kib(b"VmSwap"),
        threads=int(values.get(b"Threads", b"0") or 0),
        has_memory=b"VmRSS" in values,
    )


def read_rollup(pid: int) -> Rollup:
    """Read PSS, USS (private clean + dirty) and swap; falls back to ``smaps`` on old kernels."""
    _require_linux()
    path = f"/proc/{pid}/smaps_rollup"
    if not os.path.exists(path) and os.path.exists(f"/proc/{pid}/smaps"):
        path = f"/proc/{pid}/smaps"
    with _translate(pid, "memory map"), open(path, "rb") as fh:
        raw = fh.read()
    totals = {b"Rss": 0, b"Pss": 0, b"Private_Clean": 0, b"Private_Dirty": 0, b"Swap": 0}
    for line in raw.split(b"\n"):
        key, sep, value = line.partition(b":")
        if sep and key in totals:
            totals[key] += int(value.split()[0]) * 1024
    if not raw:
        # A process that exited between open and read leaves an empty file.
        raise ProcessNotFound(f"no process with pid {pid} (it has exited)")
    return Rollup(
        rss_bytes=totals[b"Rss"],
        pss_bytes=totals[b"Pss"],
        uss_bytes=totals[b"Private_Clean"] + totals[b"Private_Dirty"],
        swap_bytes=totals[b"Swap"],
    )


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from every thread's ``children`` file (cheap).

    Falls back to a scan of /proc where the kernel has no ``children`` files.
    """
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                found.extend(int(c) for c in fh.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread ended between listdir and open
            return _children_by_scan(pid)
        except OSError:
            continue
    return found


def _children_by_scan(pid: int) -> list[int]:
    found = []
    for entry in os.listdir(PROC):
        if entry.isdigit():
            try:
                if read_status(int(entry)).ppid == pid:
                    found.append(int(entry))
            except (ProcessNotFound, AccessDenied):
                continue
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents before children."""
    order = [pid]
    seen = {pid}
    i = 0
    while i < len(order):
        for child in children(order[i]):
            if child not in seen:
                seen.add(child)
                order.append(child)
        i += 1
    return order


def cmdline(pid: int) -> list[str]:
    """The command line of ``pid`` ([] for kernel threads and zombies)."""
    with _translate(pid, "command line"), open(f"/proc/{pid}/cmdline", "rb") as fh:
        raw = fh.read()
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def count_fds(pid: int) -> int | None:
    """Number of open file descriptors, or None where we may not look."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except PermissionError:
        return None
    except FileNotFoundError as exc:
        raise ProcessNotFound(f"no process with pid {pid} (it has exited)") from exc
