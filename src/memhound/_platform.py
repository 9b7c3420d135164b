"""Facts about the platform: procfs, page size, cgroup memory limits."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
IS_LINUX = sys.platform.startswith("linux")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# cgroup v1 reports "no limit" as a huge page-aligned number.
_V1_UNLIMITED = 1 << 62


def has_procfs() -> bool:
    return IS_LINUX and (PROC / "self" / "status").exists()


@dataclass(frozen=True)
class CgroupMemory:
    """The memory limit that applies to a process, and how often it was enforced."""

    version: int
    path: str
    limit_bytes: int | None
    usage_bytes: int | None
    oom_kills: int | None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_key(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def cgroup_membership(pid: int) -> str | None:
    """The raw ``/proc/PID/cgroup`` text: cheap to compare from tick to tick."""
    try:
        return (PROC / str(pid) / "cgroup").read_text()
    except OSError:
        return None


def cgroup_memory(pid: int) -> CgroupMemory | None:
    """The tightest memory limit on ``pid``'s cgroup and its ancestors, or None if unreadable."""
    try:
        lines = (PROC / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    v1_path = v2_path = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":
            v2_path = rel
        elif "memory" in controllers.split(","):
            v1_path = rel
    if v1_path is not None and (CGROUP_ROOT / "memory").is_dir():
        return _walk(1, CGROUP_ROOT / "memory", v1_path)
    if v2_path is not None and (CGROUP_ROOT / "cgroup.controllers").exists():
        return _walk(2, CGROUP_ROOT, v2_path)
    return None


def _walk(version: int, root: Path, rel: str) -> CgroupMemory | None:
    leaf = root / rel.lstrip("/")
    if not leaf.is_dir():
        return None
    limit: int | None = None
    node = leaf
    while True:
        value = _read_int(node / ("memory.limit_in_bytes" if version == 1 else "memory.max"))
        if value is not None and value < _V1_UNLIMITED and (limit is None or value < limit):
            limit = value
        if node == root or root not in node.parents:
            break
        node = node.parent
    if version == 1:
        usage = _read_int(leaf / "memory.usage_in_bytes")
        kills = _read_key(leaf / "memory.oom_control", "oom_kill")
    else:
        usage = _read_int(leaf / "memory.current")
        kills = _read_key(leaf / "memory.events", "oom_kill")
    return CgroupMemory(version, rel, limit, usage, kills)


def cgroup_memory_reread(cg: CgroupMemory) -> CgroupMemory | None:
    """Read the same cgroup again (after its process has gone)."""
    root = CGROUP_ROOT / "memory" if cg.version == 1 else CGROUP_ROOT
    return _walk(cg.version, root, cg.path)


@dataclass(frozen=True)
class CgroupPids:
    """The task limit on a process's cgroup (``pids.max``, the tightest up the tree), and
    how many tasks its own cgroup holds now."""

    path: str
    limit: int | None
    current: int | None


def cgroup_pids(pid: int) -> CgroupPids | None:
    """``pid``'s pids controller: its limit (None: "max" everywhere) and current count;
    None when there is no pids controller to read."""
    try:
        lines = (PROC / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if "pids" in controllers.split(","):
            root = CGROUP_ROOT / "pids"
        elif controllers == "" and (CGROUP_ROOT / "cgroup.controllers").exists():
            root = CGROUP_ROOT
        else:
            continue
        leaf = root / rel.lstrip("/")
        if not leaf.is_dir():
            continue
        limit: int | None = None
        node = leaf
        while True:
            value = _read_int(node / "pids.max")
            if value is not None and (limit is None or value < limit):
                limit = value
            if node == root or root not in node.parents:
                break
            node = node.parent
        return CgroupPids(rel, limit, _read_int(leaf / "pids.current"))
    return None


@dataclass(frozen=True)
class KernelOomKill:
    """What the kernel's log says about an OOM kill of one process."""

    pid: int
    message: str
    memcg: str | None


_KILLED_RE = re.compile(r"Killed process (\d+) \(")
_MEMCG_RE = re.compile(r"oom_memcg=([^,\s]+)")
_TASK_PID_RE = re.compile(r",pid=(\d+),")


class KernelLog:
    """A reader of the kernel log (``/dev/kmsg``) that sees only what is logged after it opened.

    Open it before the child starts: a pid is reused, and an old "Killed process <pid>" record
    of another process that once had the child's pid must not be taken for the child's death
    (CI saw exactly that). Positioning at the end of the log is the kernel's own cursor, so no
    clock has to be compared with the log's timestamps. Unreadable logs (no root or
    CAP_SYSLOG, containers) give no records.
    """

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self._fd = None
            return
        try:
            os.lseek(self._fd, 0, os.SEEK_END)
        except OSError:
            self.close()

    @property
    def readable(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> KernelLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def oom_kills(self, pids: set[int], *, max_records: int = 20_000) -> dict[int, KernelOomKill]:
        """OOM kills of ``pids`` logged since this reader opened (or since its last call)."""
        if self._fd is None:
            return {}
        return _read_oom_kills(self._fd, pids, max_records)


def _read_oom_kills(fd: int, pids: set[int], max_records: int) -> dict[int, KernelOomKill]:
    found: dict[int, KernelOomKill] = {}
    memcg_of: dict[int, str] = {}
    for _ in range(max_records):
        try:
            raw = os.read(fd, 8192)
        except BlockingIOError:
            break
        except OSError:  # EPIPE: records overwritten while reading; go on
            continue
        if not raw:
            break
        text = raw.decode("utf-8", "replace").split(";", 1)[-1].split("\n", 1)[0]
        if "oom-kill:" in text:
            pm, mm = _TASK_PID_RE.search(text), _MEMCG_RE.search(text)
            if pm and mm:
                memcg_of[int(pm.group(1))] = mm.group(1)
            continue
        m = _KILLED_RE.search(text)
        if m and int(m.group(1)) in pids:
            pid = int(m.group(1))
            found[pid] = KernelOomKill(pid, text.strip(), memcg_of.get(pid))
    return found


def cgroup_limit_at(memcg: str) -> int | None:
    """The memory limit of the cgroup at ``memcg`` (as the kernel log names it)."""
    for version, root in ((1, CGROUP_ROOT / "memory"), (2, CGROUP_ROOT)):
        if (root / memcg.lstrip("/")).is_dir():
            cg = _walk(version, root, memcg)
            if cg is not None:
                return cg.limit_bytes
    return None


def _asyncio_traverse_is_unsafe(version: tuple[int, int, int, str, int]) -> bool:
    """CPython gh-122695, fixed in 3.12.5 and 3.13.0rc2: see ``traverse_unsafe_ids``."""
    major, minor, micro, level, serial = version
    if (major, minor) == (3, 12):
        return micro < 5
    if (major, minor, micro) == (3, 13, 0):
        return level in ("alpha", "beta") or (level == "candidate" and serial < 2)
    return False


def traverse_unsafe_ids() -> dict[int, object]:
    """Objects of this process that ``gc.get_referents`` must not be called on, by id.

    On CPython 3.12.0-3.12.4 the ``_asyncio`` module's traverse also visits its free list of
    dead future iterators (CPython gh-122695): ``gc.get_referents`` hands them out as objects,
    and dropping them frees them a second time, which turns the free list into a cycle; the
    next ``gc.collect()`` then never returns. Any asyncio program that awaited a future is
    exposed. The safe referents of such a module are its ``__dict__``.
    """
    if not _asyncio_traverse_is_unsafe(tuple(sys.version_info)):  # type: ignore[arg-type]
        return {}
    mod = sys.modules.get("_asyncio")
    return {id(mod): mod} if mod is not None else {}


def platform_info() -> dict[str, Any]:
    """The machine memhound runs on, as recorded in run.json."""
    import platform

    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memhound_python": platform.python_version(),
    }


def die_with_parent(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child is sent ``sig`` when the process
    that started it dies, even by SIGKILL (Linux's ``PR_SET_PDEATHSIG``), so a job does not
    run on unwatched after its watcher was killed. None where the call is not available.

    The function only calls ``prctl`` (looked up here, before the fork) and ``getppid``: if
    the parent died between the fork and the call, the child signals itself."""
    if not IS_LINUX:
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


_PR_SET_PDEATHSIG = 1
