"""Connection pools of this process that say how full they are: SQLAlchemy's ``QueuePool``
(its size, its overflow, how many connections are checked out). Read in-process only (the
pools are Python objects), and only when SQLAlchemy is imported."""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any


class PoolWatcher:
    """The process's SQLAlchemy pools, found once (a walk of the gc's objects) and then
    followed by weak reference; looked for again while none is found."""

    def __init__(self) -> None:
        self._pools: list[weakref.ref[Any]] = []

    def _find(self) -> list[Any]:
        alive = [p for p in (r() for r in self._pools) if p is not None]
        if alive or "sqlalchemy.pool" not in sys.modules:
            return alive
        from sqlalchemy.pool import QueuePool

        found = [o for o in gc.get_objects() if isinstance(o, QueuePool)]
        self._pools = [weakref.ref(p) for p in found]
        return found

    def checked_out(self) -> int | None:
        """Connections checked out of the pools now; None without a pool."""
        pools = self._find()
        if not pools:
            return None
        return sum(int(p.checkedout()) for p in pools)

    def limit(self) -> tuple[int | None, str] | None:
        """The most that can be checked out at once (size + max overflow; None when an
        overflow is unlimited) and how that was read; None without a pool."""
        pools = self._find()
        if not pools:
            return None
        parts, total = [], 0
        unlimited = False
        for p in pools:
            size, overflow = int(p.size()), int(getattr(p, "_max_overflow", 0))
            if overflow < 0:
                unlimited = True
            total += size + max(0, overflow)
            parts.append(f"size {size} + max_overflow {overflow}")
        source = f"SQLAlchemy QueuePool {'; '.join(parts)}"
        if unlimited:
            return None, source + " (an unlimited overflow: no limit)"
        return total, source
