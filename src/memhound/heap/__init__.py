"""Heap snapshots in the V8 ``.heapsnapshot`` format: write this process's, analyse anyone's.

>>> import memhound
>>> memhound.snapshot("app.heapsnapshot")          # the live object graph of this process
>>> from memhound import heap
>>> snap = heap.load("app.heapsnapshot")           # ours or Node's, plain or gzipped
>>> graph = heap.analyse(snap)                     # distances, dominators, retained sizes
>>> heap.summary(graph)[:3]

Parts: ``v8format`` (the file format: read, and the constants the writer uses), ``writer``
(walks the live heap), ``graph`` (pure analysis on arrays), ``diff`` (comparisons by node id).
Nothing is imported until used.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from memhound.heap.diff import diff, three_snapshot
    from memhound.heap.graph import HeapGraph, analyse, retainer_paths, summary, top_dominators
    from memhound.heap.v8format import HeapSnapshot, SnapshotFormatError, load
    from memhound.heap.writer import SnapshotInfo, snapshot

__all__ = [
    "HeapGraph",
    "HeapSnapshot",
    "SnapshotFormatError",
    "SnapshotInfo",
    "analyse",
    "diff",
    "load",
    "retainer_paths",
    "snapshot",
    "summary",
    "three_snapshot",
    "top_dominators",
]

_LAZY = {
    "load": "memhound.heap.v8format",
    "HeapSnapshot": "memhound.heap.v8format",
    "SnapshotFormatError": "memhound.heap.v8format",
    "snapshot": "memhound.heap.writer",
    "SnapshotInfo": "memhound.heap.writer",
    "HeapGraph": "memhound.heap.graph",
    "analyse": "memhound.heap.graph",
    "summary": "memhound.heap.graph",
    "retainer_paths": "memhound.heap.graph",
    "top_dominators": "memhound.heap.graph",
    "diff": "memhound.heap.diff",
    "three_snapshot": "memhound.heap.diff",
}


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'memhound.heap' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
