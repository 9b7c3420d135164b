"""The limits a process runs under, read once at the start of a soak: its soft
``RLIMIT_NOFILE`` and ``RLIMIT_NPROC`` (``/proc/PID/limits``), its cgroup's ``pids.max``
and ``memory.max``. A limit that cannot be read is said to be unknown, with the reason."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from memhound._platform import cgroup_memory, cgroup_pids
from memhound.model.verdict import ResourceLimit

_ROWS = {"Max open files": "fds", "Max processes": "threads"}


def rlimits(pid: int) -> dict[str, int | None]:
    """Soft limits of ``pid`` by resource ("fds", "threads"; None: unlimited). Raises
    OSError when ``/proc/PID/limits`` cannot be read."""
    with open(f"/proc/{pid}/limits", "rb") as fh:
        text = fh.read().decode("ascii", "replace")
    out: dict[str, int | None] = {}
    for line in text.splitlines()[1:]:
        for row, resource in _ROWS.items():
            if line.startswith(row):
                soft = line[len(row) :].split()[0]
                out[resource] = None if soft == "unlimited" else int(soft)
    return out


def _uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh.read().split(b"\n"):
                if line.startswith(b"Uid:"):
                    return int(line.split()[2])  # the effective uid
    except (OSError, ValueError, IndexError):
        return None
    return None


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def resource_limits(
    pids: Sequence[int], *, reserved_fds: int = 0, given: Mapping[str, int] | None = None
) -> dict[str, ResourceLimit]:
    """The limit of each watched resource of the process tree ``pids`` (root first).

    - fds: the root's ``RLIMIT_NOFILE`` (the sum over the tree when it has several
      processes: each has its own); ``reserved_fds`` of it are memhound's own;
    - threads: the cgroup's ``pids.max`` less the tasks of other processes in that cgroup,
      else ``RLIMIT_NPROC`` (which counts every task of the user, and does not apply to root);
    - rss: the cgroup's memory limit;
    - ``given`` (``--limit fds=500``) wins over what was read."""
    out: dict[str, ResourceLimit] = {}
    if not pids:
        return out
    root = pids[0]
    try:
        per = {p: rlimits(p) for p in pids}
    except OSError as exc:
        why = f"unknown: /proc/{root}/limits could not be read ({exc.strerror or exc})"
        out["fds"] = ResourceLimit("fds", None, why, reserved_fds)
        per = {}
    if per:
        values = [per[p].get("fds") for p in pids]
        if any(v is None for v in values):
            out["fds"] = ResourceLimit("fds", None, f"unlimited RLIMIT_NOFILE of pid {root}")
        elif len(pids) == 1:
            out["fds"] = ResourceLimit(
                "fds", values[0], f"RLIMIT_NOFILE of pid {root}, /proc/{root}/limits", reserved_fds
            )
        else:
            total = sum(v for v in values if v is not None)
            out["fds"] = ResourceLimit(
                "fds", total, f"the sum of RLIMIT_NOFILE of the {len(pids)} processes", reserved_fds
            )
    cg = cgroup_pids(root)
    if cg is not None and cg.limit is not None:
        own = sum(_threads(p) for p in pids)
        others = max(0, (cg.current or own) - own)
        source = f"pids.max of cgroup {cg.path}"
        if others:
            source += f", less the {others:,} tasks of other processes in it"
        out["threads"] = ResourceLimit("threads", cg.limit - others, source)
    elif per:
        nproc = per[root].get("threads")
        if _uid(root) == 0:
            out["threads"] = ResourceLimit(
                "threads", None, "no pids.max, and RLIMIT_NPROC does not apply to root"
            )
        elif nproc is None:
            out["threads"] = ResourceLimit("threads", None, "no pids.max, unlimited RLIMIT_NPROC")
        else:
            out["threads"] = ResourceLimit(
                "threads", nproc, f"RLIMIT_NPROC of pid {root} (every task of its user counts)"
            )
    mem = cgroup_memory(root)
    if mem is not None and mem.limit_bytes is not None:
        out["rss"] = ResourceLimit("rss", mem.limit_bytes, f"memory limit of cgroup {mem.path}")
    for resource, value in (given or {}).items():
        reserved = reserved_fds if resource == "fds" else 0
        out[resource] = ResourceLimit(resource, value, "--limit", reserved)
    return out
