"""Comparisons of snapshots of one process, matching objects by node id.

- :func:`diff` is DevTools' Comparison view: per class, objects new in B, deleted since A,
  and the sizes they add and free (shallow sizes).
- :func:`three_snapshot` is the three-snapshot method: objects new in B (not in A) and still
  alive in C, grouped by class, biggest first, each group with a retainer path in C.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memhound.heap.graph import (
    MEMHOUND_ROOT,
    HeapGraph,
    RetainerPath,
    classes,
    reached_through,
    retainer_paths,
)
from memhound.heap.v8format import HeapSnapshot


@dataclass(frozen=True)
class TypeDelta:
    """One class in a comparison of A and B. Sizes are shallow sizes, in bytes."""

    class_name: str
    new_count: int
    deleted_count: int
    delta_count: int
    allocated_bytes: int
    freed_bytes: int
    delta_bytes: int


@dataclass(frozen=True)
class LeakGroup:
    """Objects of one class made between A and B and still alive in C.

    ``retained_bytes`` adds the retained sizes (in C) of the group's objects that no other
    object of the group dominates; ``paths`` show how the biggest of them is held.
    """

    class_name: str
    count: int
    shallow_bytes: int
    retained_bytes: int
    sample_ids: tuple[int, ...]
    paths: tuple[RetainerPath, ...]


def diff(a: HeapSnapshot, b: HeapSnapshot) -> list[TypeDelta]:
    """Per class, what appeared and disappeared between ``a`` and ``b``; biggest change first.

    Needs no dominators: only ids, classes and shallow sizes.
    """
    import numpy as np

    real_a = _real(a)
    real_b = _real(b)
    new = real_b[~np.isin(b.node_id[real_b], a.node_id[real_a])]
    gone = real_a[~np.isin(a.node_id[real_a], b.node_id[real_b])]
    rows: dict[str, list[int]] = {}
    for name, count, size in _by_class(b, new):
        rows.setdefault(name, [0, 0, 0, 0])[0:2] = [count, size]
    for name, count, size in _by_class(a, gone):
        rows.setdefault(name, [0, 0, 0, 0])[2:4] = [count, size]
    out = [
        TypeDelta(
            class_name=name,
            new_count=v[0],
            deleted_count=v[2],
            delta_count=v[0] - v[2],
            allocated_bytes=v[1],
            freed_bytes=v[3],
            delta_bytes=v[1] - v[3],
        )
        for name, v in rows.items()
    ]
    out.sort(key=lambda r: (-abs(r.delta_bytes), -abs(r.delta_count), r.class_name))
    return out


def three_snapshot(
    a: HeapSnapshot,
    b: HeapSnapshot,
    c: HeapSnapshot,
    graph_c: HeapGraph,
    *,
    paths: int = 1,
    path_groups: int = 10,
    leave_out: Any = None,
) -> list[LeakGroup]:
    """Objects new in ``b`` and still alive in ``c``, grouped by class (as classed in ``c``).

    The ``path_groups`` biggest groups (by retained size) get ``paths`` retainer paths of
    their biggest object. What memhound itself holds in ``c`` (objects whose shortest path
    from the root runs through its ``(memhound)`` root: its modules, the modules it imported
    to write snapshots, its frames) is never a group. ``leave_out``, a mask over ``c``'s
    nodes, drops more objects from the groups (those of modules imported meanwhile, say:
    :func:`memhound.heap.graph.reached_through`).
    """
    import numpy as np

    own = reached_through(graph_c, (MEMHOUND_ROOT,))
    leave_out = own if leave_out is None else (leave_out | own)

    new_ids = b.node_id[_real(b)]
    new_ids = new_ids[~np.isin(new_ids, a.node_id[_real(a)])]
    real_c = _real(c)
    leaked = real_c[np.isin(c.node_id[real_c], new_ids)]
    if leave_out is not None:
        leaked = leaked[~leave_out[leaked]]
    if leaked.size == 0:
        return []
    # a leaked object dominated by another leaked object is counted once, in its dominator
    top = leaked[~_dominated_by_another(graph_c, leaked)]
    cls = graph_c.node_class[leaked]
    groups: list[LeakGroup] = []
    for c_idx in np.unique(cls):
        members = leaked[cls == c_idx]
        tops = np.intersect1d(members, top)
        order = members[np.argsort(-graph_c.retained_size[members], kind="stable")]
        groups.append(
            LeakGroup(
                class_name=graph_c.class_names[int(c_idx)],
                count=int(members.size),
                shallow_bytes=int(c.self_size[members].sum()),
                retained_bytes=int(graph_c.retained_size[tops].sum()),
                sample_ids=tuple(int(x) for x in c.node_id[order[:5]]),
                paths=(),
            )
        )
    groups.sort(key=lambda g: (-g.retained_bytes, -g.count, g.class_name))
    for k, group in enumerate(groups[:path_groups]):
        node = int(np.flatnonzero(c.node_id == group.sample_ids[0])[0])
        found = tuple(retainer_paths(graph_c, node, paths=paths))
        groups[k] = LeakGroup(**{**group.__dict__, "paths": found})
    return groups


def _real(snap: HeapSnapshot) -> Any:
    import numpy as np

    synthetic = snap.node_types.index("synthetic") if "synthetic" in snap.node_types else -1
    return np.flatnonzero(snap.node_type != synthetic)


def _by_class(snap: HeapSnapshot, nodes: Any) -> list[tuple[str, int, int]]:
    import numpy as np

    if nodes.size == 0:
        return []
    node_class, names = classes(snap)
    cls = node_class[nodes]
    k = len(names)
    counts = np.bincount(cls, minlength=k)
    sizes = np.bincount(cls, weights=snap.self_size[nodes], minlength=k)
    return [(names[c], int(counts[c]), int(sizes[c])) for c in np.flatnonzero(counts)]


def _dominated_by_another(graph: HeapGraph, nodes: Any) -> Any:
    """For each node, whether another of ``nodes`` dominates it (pre-order intervals)."""
    import numpy as np

    order = np.argsort(graph.preorder[nodes], kind="stable")
    start = graph.preorder[nodes][order]
    end = start + graph.subtree_nodes[nodes][order]
    before = np.r_[np.int64(-1), np.maximum.accumulate(end)[:-1]]
    hit = np.zeros(nodes.size, dtype=bool)
    hit[order] = start < before
    return hit
