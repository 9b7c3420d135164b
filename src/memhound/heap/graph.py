"""Analysis of a heap snapshot on its arrays: distances, dominators, retained sizes, retainers.

Pure functions of a :class:`~memhound.heap.v8format.HeapSnapshot`, the way Chrome DevTools
computes its Memory panel's columns:

- **distance**: the number of references on the shortest path from the root, weak references
  not followed (root 0; memhound's synthetic groups 1, modules and thread frames 2);
- **dominator** of a node: the node every path from the root to it goes through last;
  computed over the non-weak edges (``shortcut`` edges count only from the root);
- **retained size**: the node's shallow size plus the retained sizes of the nodes it
  immediately dominates: what would be freed if it went away;
- a **class** groups nodes the way DevTools' Summary does: objects by their name (for Python,
  the qualified type name), strings as ``(string)``, code as ``(compiled code)``...

Dominators use the native extension's Lengauer-Tarjan (``memhound._native._heapwalk``) where
it is built, else igraph's C implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memhound.errors import MissingDependency
from memhound.heap.v8format import MEMHOUND_ROOT as MEMHOUND_ROOT
from memhound.heap.v8format import NUMBERED_EDGE_TYPES, HeapSnapshot, native_heapwalk

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]

CONTAINER_NAMES = frozenset({"dict", "list", "tuple", "set", "frozenset", "Array", "Object", "Map"})
_NAMED_CLASS_TYPES = frozenset({"object", "native", "number"})
_CLASS_OF_TYPE = {
    "string": "(string)",
    "concatenated string": "(string)",
    "sliced string": "(string)",
    "code": "(compiled code)",
    "hidden": "(system)",
}


@dataclass(frozen=True, eq=False)
class HeapGraph:
    """A snapshot with its analysis, one entry per node ordinal.

    ``distance`` is -1 for nodes not reachable without weak edges; ``idom`` is the immediate
    dominator's ordinal (the root's is itself); ``retained_size`` and ``self_size`` in bytes;
    ``node_class`` indexes ``class_names``; ``parent_edge`` is the edge on a shortest path
    from the root (-1 for the root and unreached nodes).
    """

    snap: HeapSnapshot
    edge_src: IntArray
    distance: IntArray
    parent_edge: IntArray
    idom: IntArray
    retained_size: IntArray
    node_class: IntArray
    class_names: tuple[str, ...]
    class_retained: IntArray
    preorder: IntArray
    subtree_nodes: IntArray


@dataclass(frozen=True)
class TypeSummary:
    """One row of ``memhound heap summary``: a class's instances, sizes in bytes."""

    class_name: str
    count: int
    shallow_bytes: int
    retained_bytes: int
    min_distance: int


@dataclass(frozen=True)
class Dominator:
    """A node that retains much: what would be freed with it (``retained_bytes``)."""

    node: int
    node_id: int
    name: str
    class_name: str
    self_bytes: int
    retained_bytes: int
    distance: int
    #: what holds it, as a retainer path would end before it: the edge to it from its
    #: immediate dominator (``module app -> CACHE``, ``list[3]``), else the last step of its
    #: shortest path from a root; "" for the root and nodes no strong path reaches
    holder: str = ""


@dataclass(frozen=True)
class Hop:
    """One step of a retainer path: the edge taken and the node it reaches."""

    edge_type: str
    edge_name: str
    node_id: int
    node_name: str
    node_type: str


@dataclass(frozen=True)
class RetainerPath:
    """A path from the root to a node; ``text`` reads like DevTools' Retainers pane."""

    node_id: int
    hops: tuple[Hop, ...]
    text: str


def analyse(snap: HeapSnapshot) -> HeapGraph:
    """Distances, dominator tree, retained sizes and classes of every node."""
    import numpy as np

    n = snap.node_count
    counts = np.diff(snap.first_edge)
    edge_src = np.repeat(np.arange(n, dtype=np.int64), counts)
    kinds = list(snap.edge_types)
    weak = _type_mask(snap.edge_type, kinds, "weak")
    shortcut = _type_mask(snap.edge_type, kinds, "shortcut")
    strong = ~weak
    distance, parent_edge = _bfs(snap, strong, n)
    essential = strong & (~shortcut | (edge_src == snap.root))
    idom = _dominators(n, snap.root, edge_src[essential], snap.edge_to[essential])
    node_class, class_names = classes(snap)
    retained, tin, sub = _retained(idom, snap.self_size, snap.root)
    class_retained = _class_retained(node_class, len(class_names), retained, tin, sub)
    return HeapGraph(
        snap=snap,
        edge_src=edge_src,
        distance=distance,
        parent_edge=parent_edge,
        idom=idom,
        retained_size=retained,
        node_class=node_class,
        class_names=class_names,
        class_retained=class_retained,
        preorder=tin,
        subtree_nodes=sub,
    )


def summary(graph: HeapGraph, *, top: int | None = None, by: str = "type") -> list[TypeSummary]:
    """Per class (``by="type"``) or allocation site (``by="site"``): count, shallow and
    retained bytes, minimum distance; biggest retained first.

    A group's retained size counts each member not dominated by another member of the same
    group (as DevTools does), so nested instances are not counted twice. Allocation sites
    come from the snapshot's trace tables (memhound writes them while tracemalloc traces).
    """
    import numpy as np

    snap = graph.snap
    keep = snap.node_type != _type_index(snap.node_types, "synthetic")
    if by == "type":
        node_class, names, class_retained = graph.node_class, graph.class_names, None
    elif by in ("site", "module"):
        if by == "site":
            node_class, names = _sites(snap)
        else:
            node_class, names = _modules(graph)
        class_retained = _class_retained(
            node_class, len(names), graph.retained_size, graph.preorder, graph.subtree_nodes
        )
    else:
        raise ValueError(f"summary by {by!r}: choose 'type', 'module' or 'site'")
    cls = node_class[keep]
    k = len(names)
    count = np.bincount(cls, minlength=k)
    shallow = np.bincount(cls, weights=snap.self_size[keep], minlength=k)
    dist = np.where(graph.distance[keep] < 0, np.iinfo(np.int64).max, graph.distance[keep])
    mind = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(mind, cls, dist)
    retained = graph.class_retained if class_retained is None else class_retained
    rows = [
        TypeSummary(
            class_name=names[c],
            count=int(count[c]),
            shallow_bytes=int(shallow[c]),
            retained_bytes=int(retained[c]),
            min_distance=int(mind[c]) if mind[c] != np.iinfo(np.int64).max else -1,
        )
        for c in np.flatnonzero(count)
    ]
    rows.sort(key=lambda r: (-r.retained_bytes, -r.shallow_bytes, r.class_name))
    return rows[:top] if top is not None else rows


def _modules(graph: HeapGraph) -> tuple[Any, tuple[str, ...]]:
    """Classes grouped by the module that defines them (``app.models.Order`` ->
    ``app.models``); built-in types under ``builtins``, synthetic groups such as
    ``(string)`` kept as they are."""
    import numpy as np

    groups: dict[str, int] = {}
    mapping = np.empty(len(graph.class_names), dtype=np.int64)
    for i, name in enumerate(graph.class_names):
        if name.startswith("("):
            module = name
        elif "." in name:
            module = name.rsplit(".", 1)[0]
        else:
            module = "builtins"
        mapping[i] = groups.setdefault(module, len(groups))
    return mapping[graph.node_class], tuple(groups)


def top_dominators(graph: HeapGraph, top: int = 20) -> list[Dominator]:
    """The nodes with the biggest retained sizes, namespaces left out.

    Synthetic roots, modules (``module x``) and classes (``class x``) retain most of a
    Python heap by construction; the list shows the data structures below them.
    """
    import numpy as np

    snap = graph.snap
    eligible = snap.node_type != _type_index(snap.node_types, "synthetic")
    skip_names = [
        i for i, s in enumerate(snap.strings) if s.startswith("module ") or s.startswith("class ")
    ]
    if skip_names:
        eligible &= ~np.isin(snap.node_name, np.array(skip_names, dtype=np.int64))
    candidates = np.flatnonzero(eligible)
    order = candidates[np.argsort(-graph.retained_size[candidates], kind="stable")][:top]
    return [describe(graph, int(i)) for i in order]


def nodes_of_class(graph: HeapGraph, class_name: str) -> Any:
    """Ordinals of the nodes of ``class_name``, biggest retained size first."""
    import numpy as np

    try:
        c = graph.class_names.index(class_name)
    except ValueError:
        return np.zeros(0, dtype=np.int64)
    nodes = np.flatnonzero(graph.node_class == c)
    return nodes[np.argsort(-graph.retained_size[nodes], kind="stable")]


def classes_named(graph: HeapGraph, name: str) -> list[tuple[str, int]]:
    """The classes ``name`` may mean, with their instance counts, most instances first: the
    class of exactly that name when there is one, else those whose qualified name ends with
    ``.name`` (``Order`` or ``models.Order`` for ``app.models.Order``, ``Order`` for
    ``__main__.Order``). Class objects and modules (``class x``, ``module x``) are found
    only by their full name: ``Order`` means the instances."""
    import numpy as np

    counts = np.bincount(graph.node_class, minlength=len(graph.class_names))
    if name in graph.class_names:
        return [(name, int(counts[graph.class_names.index(name)]))]
    suffix = "." + name
    found = [
        (c, int(counts[i]))
        for i, c in enumerate(graph.class_names)
        if c.endswith(suffix) and " " not in c and counts[i]
    ]
    return sorted(found, key=lambda row: (-row[1], row[0]))


def node_of_id(graph: HeapGraph, node_id: int) -> int | None:
    import numpy as np

    found = np.flatnonzero(graph.snap.node_id == node_id)
    return int(found[0]) if found.size else None


def retainer_paths(graph: HeapGraph, node: int, *, paths: int = 1) -> list[RetainerPath]:
    """Up to ``paths`` shortest paths from the root to ``node``, through different retainers.

    The first is the shortest path; the others end with a different last retainer each,
    each reached by its own shortest path. Weak references are not followed.
    """
    import numpy as np

    snap = graph.snap
    out: list[RetainerPath] = []
    if graph.distance[node] < 0:
        return out
    out.append(_path(graph, _chain(graph, node)))
    if paths <= 1:
        return out
    weak = _type_mask(snap.edge_type, list(snap.edge_types), "weak")
    into = np.flatnonzero((snap.edge_to == node) & ~weak)
    srcs = graph.edge_src[into]
    reached = graph.distance[srcs] >= 0
    into, srcs = into[reached], srcs[reached]
    order = np.argsort(graph.distance[srcs], kind="stable")
    seen = {int(graph.edge_src[graph.parent_edge[node]])}
    for e in into[order]:
        src = int(graph.edge_src[e])
        if src in seen or src == node:
            continue
        seen.add(src)
        chain = _chain(graph, src)
        if node in chain:
            continue
        out.append(_path(graph, [*chain, int(e)]))
        if len(out) >= paths:
            break
    return out


def reached_through(graph: HeapGraph, names: Iterable[str]) -> Any:
    """A mask over the nodes: those whose shortest path from the root (the first path
    :func:`retainer_paths` gives) passes through a node named in ``names`` (``"module x"``),
    those nodes included."""
    import numpy as np

    snap = graph.snap
    named = set(names)
    wanted = [i for i, s in enumerate(snap.strings) if s in named]
    mask = np.isin(snap.node_name, np.array(wanted, dtype=np.int64))
    if not mask.any():
        return mask
    reached = np.flatnonzero((graph.distance > 0) & (graph.parent_edge >= 0))
    by_level = reached[np.argsort(graph.distance[reached], kind="stable")]
    levels = graph.distance[by_level]
    cuts = np.flatnonzero(np.diff(levels)) + 1
    for level in np.split(by_level, cuts):  # parents are a level closer to the root
        mask[level] |= mask[graph.edge_src[graph.parent_edge[level]]]
    return mask


def class_of(graph: HeapGraph, node: int) -> str:
    return graph.class_names[int(graph.node_class[node])]


# -- internals -------------------------------------------------------------------------------


def describe(graph: HeapGraph, node: int) -> Dominator:
    """The node as a :class:`Dominator` row: its id, name, class, sizes and distance."""
    snap = graph.snap
    return Dominator(
        node=node,
        node_id=int(snap.node_id[node]),
        name=snap.name(node),
        class_name=class_of(graph, node),
        self_bytes=int(snap.self_size[node]),
        retained_bytes=int(graph.retained_size[node]),
        distance=int(graph.distance[node]),
        holder=holder(graph, node),
    )


def holder(graph: HeapGraph, node: int) -> str:
    """What holds ``node`` (see :attr:`Dominator.holder`): a dict shown as ``dict`` is named
    ``module app -> CACHE``. A module-level object is often dominated by the root itself
    (its module's namespace is reachable by several paths), hence the shortest path's last
    step when the dominator has no edge to it."""
    import numpy as np

    snap = graph.snap
    edge = -1
    dom = int(graph.idom[node])
    if dom != node and dom >= 0:
        lo, hi = int(snap.first_edge[dom]), int(snap.first_edge[dom + 1])
        weak = _type_index(snap.edge_types, "weak")
        hits = np.flatnonzero((snap.edge_to[lo:hi] == node) & (snap.edge_type[lo:hi] != weak))
        if hits.size:
            edge = lo + int(hits[0])
    if edge < 0:
        edge = int(graph.parent_edge[node])
    if edge < 0:
        return ""
    src = int(graph.edge_src[edge])
    kind = snap.edge_types[int(snap.edge_type[edge])]
    names_source = (
        kind in NUMBERED_EDGE_TYPES
        or (kind == "property" and snap.name(src) in CONTAINER_NAMES)
        or (kind == "context" and snap.type_name(src) == "closure")
    )  # list[3], dict['k'], handler() -> payload: the holder is in the step already
    step = _step(graph, edge)
    return step if names_source else f"{_node_label(graph, src)} -> {step}"


def _chain(graph: HeapGraph, node: int) -> list[int]:
    """Edge ordinals from the root to ``node`` along BFS parents."""
    edges: list[int] = []
    cur = node
    limit = graph.snap.node_count
    while cur != graph.snap.root and len(edges) < limit:
        e = int(graph.parent_edge[cur])
        if e < 0:
            break
        edges.append(e)
        cur = int(graph.edge_src[e])
    edges.reverse()
    return edges


def _path(graph: HeapGraph, edges: list[int]) -> RetainerPath:
    snap = graph.snap
    hops = []
    for e in edges:
        to = int(snap.edge_to[e])
        hops.append(
            Hop(
                edge_type=snap.edge_types[int(snap.edge_type[e])],
                edge_name=snap.edge_label(e),
                node_id=int(snap.node_id[to]),
                node_name=snap.name(to),
                node_type=snap.type_name(to),
            )
        )
    target = int(snap.edge_to[edges[-1]]) if edges else snap.root
    return RetainerPath(
        node_id=int(snap.node_id[target]),
        hops=tuple(hops),
        text=_render(graph, edges, target),
    )


def _render(graph: HeapGraph, edges: list[int], target: int) -> str:
    """``module app.cache -> CACHE -> dict['k'] -> app.models.Order``."""
    snap = graph.snap
    if not edges:
        return "(root)"
    steps = list(edges)
    # the root and memhound's "(modules)" group add nothing a reader needs
    first = int(snap.edge_to[steps[0]])
    if len(steps) > 1 and snap.name(first) == "(modules)":
        steps = steps[1:]
        first = int(snap.edge_to[steps[0]])
    parts = [_node_label(graph, first)]
    parts.extend(_step(graph, e) for e in steps[1:])
    parts.append(_node_label(graph, target))
    if len(steps) == 1:
        parts = parts[:1]
    return " -> ".join(parts)


def _step(graph: HeapGraph, e: int) -> str:
    """Edge ``e`` as a retainer path shows it: ``CACHE``, ``list[3]``, ``dict['k']``..."""
    snap = graph.snap
    src = int(graph.edge_src[e])
    kind = snap.edge_types[int(snap.edge_type[e])]
    label = snap.edge_label(e)
    src_name = snap.name(src)
    if kind in NUMBERED_EDGE_TYPES:
        return f"{src_name}[{label}]"
    if kind == "property" and src_name in CONTAINER_NAMES:
        return f"{src_name}[{label!r}]"
    if kind in ("internal", "hidden"):
        return f"{{{label}}}"
    if kind == "weak":
        return f"[[{label}]]"
    if kind == "context" and snap.type_name(src) == "closure":
        return f"{src_name.split(' (', 1)[0]}() -> {label}"
    return label


def _node_label(graph: HeapGraph, node: int) -> str:
    snap = graph.snap
    kind = snap.type_name(node)
    name = snap.name(node)
    if kind in ("string", "concatenated string", "sliced string"):
        short = name if len(name) <= 40 else name[:37] + "..."
        return f"{short!r}"
    return name if name else f"({kind})"


def _type_index(types: tuple[str, ...], name: str) -> int:
    return types.index(name) if name in types else -1


def _type_mask(kinds: Any, names: list[str], name: str) -> Any:
    import numpy as np

    if name not in names:
        return np.zeros(kinds.shape[0], dtype=bool)
    return np.asarray(kinds == names.index(name))


def _bfs(snap: HeapSnapshot, strong: Any, n: int) -> tuple[Any, Any]:
    """Level-synchronous BFS over the strong edges: distances and first-found parent edges."""
    import numpy as np

    native = native_heapwalk()
    if native is not None and n > 0:
        dist, par = native.bfs(
            n,
            snap.root,
            np.ascontiguousarray(snap.first_edge, np.int64),
            np.ascontiguousarray(snap.edge_to, np.int64),
            np.ascontiguousarray(strong, np.bool_),
        )
        return np.frombuffer(dist, np.int64).copy(), np.frombuffer(par, np.int64).copy()

    keep = np.flatnonzero(strong)
    to = snap.edge_to[keep]
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(snap.first_edge))[keep]
    first = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=first[1:])
    distance = np.full(n, -1, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    distance[snap.root] = 0
    frontier = np.array([snap.root], dtype=np.int64)
    level = 0
    while frontier.size:
        starts = first[frontier]
        lens = first[frontier + 1] - starts
        total = int(lens.sum())
        if total == 0:
            break
        offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
        targets = to[offsets]
        fresh = distance[targets] < 0
        targets, offsets = targets[fresh], offsets[fresh]
        level += 1
        uniq, pos = np.unique(targets, return_index=True)
        distance[uniq] = level
        parent[uniq] = keep[offsets[pos]]
        frontier = uniq
    return distance, parent


def _dominators(n: int, root: int, src: Any, dst: Any) -> Any:
    """Immediate dominators: the native extension's Lengauer-Tarjan where it is built (the
    dominator tree is unique: both give the same), else igraph's."""
    import numpy as np

    native = native_heapwalk()
    if native is not None and n > 0:
        out = native.dominators(
            n, root, np.ascontiguousarray(src, np.int64), np.ascontiguousarray(dst, np.int64)
        )
        return np.frombuffer(out, dtype=np.int64).copy()
    try:
        import igraph  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - igraph is a dependency of the heap extra
        raise MissingDependency(
            "computing dominators needs igraph",
            hint="pip install igraph (a dependency of memhound: reinstall memhound to get it)",
        ) from exc
    g = igraph.Graph(n=n, edges=np.column_stack([src, dst]), directed=True)
    dom = np.array(g.dominator(root, mode="out"), dtype=np.float64)
    # igraph: -1 for the root, NaN for nodes the root does not reach; DevTools hangs
    # both (and nodes reached only through weak edges) under the root
    idom = np.where(np.isnan(dom) | (dom < 0), root, np.nan_to_num(dom)).astype(np.int64)
    idom[root] = root
    return idom


def _retained(idom: Any, self_size: Any, root: int) -> tuple[Any, Any, Any]:
    """Retained sizes, pre-order numbers and subtree sizes of the dominator tree, by levels
    (in one pass over the tree in the native extension, where it is built)."""
    import numpy as np

    native = native_heapwalk()
    if native is not None and idom.shape[0] > 0:
        out = native.dominator_tree(
            np.ascontiguousarray(idom, np.int64), np.ascontiguousarray(self_size, np.int64), root
        )
        return tuple(np.frombuffer(b, np.int64).copy() for b in out)

    n = idom.shape[0]
    children_order = np.argsort(idom, kind="stable")
    parents_sorted = idom[children_order]
    first = np.searchsorted(parents_sorted, np.arange(n + 1))
    levels: list[Any] = []
    frontier = np.array([root], dtype=np.int64)
    seen = 1
    while frontier.size and seen <= n:
        levels.append(frontier)
        starts, ends = first[frontier], first[frontier + 1]
        lens = ends - starts
        total = int(lens.sum())
        if total == 0:
            break
        offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
        nxt = children_order[offsets]
        nxt = nxt[nxt != root]
        seen += nxt.size
        frontier = nxt
    retained = self_size.astype(np.int64).copy()
    sub = np.ones(n, dtype=np.int64)
    for level in reversed(levels[1:]):
        np.add.at(retained, idom[level], retained[level])
        np.add.at(sub, idom[level], sub[level])
    tin = np.zeros(n, dtype=np.int64)
    for level in levels[1:]:
        order = level[np.lexsort((level, idom[level]))]
        par = idom[order]
        sizes = sub[order]
        csum = np.cumsum(sizes)
        group_start = np.flatnonzero(np.r_[True, par[1:] != par[:-1]])
        base = np.repeat(
            csum[group_start] - sizes[group_start], np.diff(np.r_[group_start, par.size])
        )
        tin[order] = tin[par] + 1 + (csum - sizes - base)
    return retained, tin, sub


def _class_retained(node_class: Any, k: int, retained: Any, tin: Any, sub: Any) -> Any:
    """Per class, the retained sizes of its instances not dominated by another instance."""
    import numpy as np

    n = node_class.shape[0]
    big = n + 1
    order = np.lexsort((tin, node_class))
    start = node_class[order] * big + tin[order]
    end = start + sub[order]
    running = np.maximum.accumulate(end)
    before = np.r_[np.int64(-1), running[:-1]]
    nested = start < before
    out = np.zeros(k, dtype=np.int64)
    top = order[~nested]
    np.add.at(out, node_class[top], retained[top])
    return out


NO_SITE = "(no allocation site)"


def _sites(snap: HeapSnapshot) -> tuple[Any, tuple[str, ...]]:
    """Each node's allocation site, as an index into the returned names."""
    import numpy as np

    n = snap.node_count
    if snap.node_trace is None or not snap.trace_sites:
        return np.zeros(n, dtype=np.int64), (NO_SITE,)
    names: dict[str, int] = {NO_SITE: 0}
    ids = np.array(sorted(snap.trace_sites), dtype=np.int64)
    label_of = np.array(
        [names.setdefault(snap.trace_sites[int(i)], len(names)) for i in ids], dtype=np.int64
    )
    pos = np.searchsorted(ids, snap.node_trace).clip(0, ids.size - 1)
    known = ids[pos] == snap.node_trace
    return np.where(known, label_of[pos], 0), tuple(names)


def _unique_small(code: Any, low: int, high: int) -> tuple[Any, Any]:
    """``np.unique(code, return_inverse=True)`` for codes in ``[-low, high)``: by a table of
    the values present (linear) rather than a sort of every node."""
    import numpy as np

    if not code.size or int(code.min()) < -low or int(code.max()) >= high:
        uniq, inverse = np.unique(code, return_inverse=True)
        return uniq, inverse.reshape(-1)
    shifted = code + low
    present = np.zeros(low + high, dtype=bool)
    present[shifted] = True
    values = np.flatnonzero(present)
    rank = np.zeros(low + high, dtype=np.int64)
    rank[values] = np.arange(values.size)
    return values - low, rank[shifted]


def classes(snap: HeapSnapshot) -> tuple[Any, tuple[str, ...]]:
    """Each node's class (an index into the returned names), grouped as DevTools does."""
    import numpy as np

    named = np.zeros(len(snap.node_types), dtype=bool)
    for i, t in enumerate(snap.node_types):
        named[i] = t in _NAMED_CLASS_TYPES
    node_type = snap.node_type.astype(np.int64)
    code = np.where(named[node_type], snap.node_name, -1 - node_type)
    uniq, inverse = _unique_small(code, len(snap.node_types), len(snap.strings))
    names = []
    for c in uniq.tolist():
        if c >= 0:
            names.append(snap.strings[c] or "(anonymous)")
        else:
            t = snap.node_types[-1 - c]
            names.append(_CLASS_OF_TYPE.get(t, f"({t})"))
    # two codes can give one name ("(string)" for three string types): merge them
    merged: dict[str, int] = {}
    remap = np.array([merged.setdefault(nm, len(merged)) for nm in names], dtype=np.int64)
    return remap[inverse.reshape(-1)], tuple(merged)
