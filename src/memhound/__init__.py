"""memhound: where a Python program's memory goes, and why it does not come back.

>>> import memhound
>>> print(memhound.memory())
rss 43.1 MiB  pss 40.2 MiB  uss 38.0 MiB  swap 0 B  peak-rss 43.1 MiB  ...
>>> memhound.checkpoint("after query")   # a marker on the timeline under `memhound run`

The package imports its parts only when they are used: ``import memhound`` stays cheap.
"""

from __future__ import annotations

from memhound.errors import AccessDenied, MemhoundError, ProcessNotFound

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "MemhoundError",
    "MemoryReading",
    "ProcessNotFound",
    "Run",
    "__version__",
    "checkpoint",
    "iteration",
    "load_run",
    "memory",
    "profile",
    "snapshot",
]

TYPE_CHECKING = False  # no `import typing` at run time: it costs more than all of memhound
if TYPE_CHECKING:
    from typing import Any

    from memhound.agent.checkpoint import checkpoint, iteration
    from memhound.analysis.summary import load_run
    from memhound.heap.writer import snapshot
    from memhound.model.readings import MemoryReading
    from memhound.model.run import Run
    from memhound.probes.measure import memory
    from memhound.profiler import profile

_LAZY = {
    "memory": ("memhound.probes.measure", "memory"),
    "checkpoint": ("memhound.agent.checkpoint", "checkpoint"),
    "iteration": ("memhound.agent.checkpoint", "iteration"),
    "MemoryReading": ("memhound.model.readings", "MemoryReading"),
    "Run": ("memhound.model.run", "Run"),
    "load_run": ("memhound.analysis.summary", "load_run"),
    "snapshot": ("memhound.heap.writer", "snapshot"),
    "profile": ("memhound.profiler", "profile"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'memhound' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
