"""What only the interpreter knows about itself: tracemalloc, gc."""

from __future__ import annotations

import gc
import tracemalloc


def traced_memory() -> tuple[int, int] | None:
    """(current, peak) bytes traced by tracemalloc, or None when it is not tracing."""
    if not tracemalloc.is_tracing():
        return None
    return tracemalloc.get_traced_memory()


def gc_counts() -> tuple[int, int, int]:
    c = gc.get_count()
    return (int(c[0]), int(c[1]), int(c[2]))


def gc_tracked_objects() -> int:
    """Objects the collector tracks. Costs ~13 ms and 8 bytes per object at 1M objects."""
    return len(gc.get_objects())
