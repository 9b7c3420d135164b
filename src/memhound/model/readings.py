"""One reading of a process's memory: ``memhound.memory()`` returns it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from memhound.units import format_bytes


@dataclass(frozen=True)
class MemoryReading:
    """Memory of one process at one moment. Sizes are bytes; ``None`` means "not known".

    - ``rss_bytes``: resident set size, what ``top`` shows; counts shared pages in full.
    - ``pss_bytes``: proportional set size; shared pages divided among their sharers.
    - ``uss_bytes``: unique set size; what would be freed if the process exited.
    - ``swap_bytes``: swapped out. ``peak_rss_bytes``: the kernel's high-water mark (VmHWM).
    - ``traced_*``: the Python heap as tracemalloc sees it, only while it is tracing.
    - ``gc_*``: the garbage collector's counters and number of tracked objects (own process).
    """

    pid: int
    time_s: float
    rss_bytes: int
    pss_bytes: int | None
    uss_bytes: int | None
    swap_bytes: int | None
    peak_rss_bytes: int | None
    traced_current_bytes: int | None
    traced_peak_bytes: int | None
    gc_counts: tuple[int, int, int] | None
    gc_tracked_objects: int | None
    threads: int | None
    open_fds: int | None

    def __str__(self) -> str:
        parts = [
            f"rss {format_bytes(self.rss_bytes)}",
            f"pss {format_bytes(self.pss_bytes)}",
            f"uss {format_bytes(self.uss_bytes)}",
            f"swap {format_bytes(self.swap_bytes)}",
            f"peak-rss {format_bytes(self.peak_rss_bytes)}",
        ]
        if self.traced_current_bytes is not None:
            parts.append(
                f"py-heap {format_bytes(self.traced_current_bytes)}"
                f" (peak {format_bytes(self.traced_peak_bytes)})"
            )
        if self.gc_counts is not None:
            parts.append("gc-counts " + "/".join(str(c) for c in self.gc_counts))
        if self.gc_tracked_objects is not None:
            parts.append(f"gc-objects {self.gc_tracked_objects:,}")
        if self.threads is not None:
            parts.append(f"threads {self.threads}")
        if self.open_fds is not None:
            parts.append(f"fds {self.open_fds}")
        return "  ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.gc_counts is not None:
            data["gc_counts"] = list(self.gc_counts)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryReading:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for name in known - kwargs.keys():
            kwargs[name] = None
        counts = kwargs.get("gc_counts")
        if counts is not None:
            kwargs["gc_counts"] = tuple(int(c) for c in counts)
        return cls(**kwargs)
