"""Hand-built V8 heap snapshots for unit tests of the reader and the analysis."""

from __future__ import annotations

import json
from pathlib import Path

from memhound.heap.v8format import EDGE_TYPES, META, NODE_FIELDS, NODE_TYPES

Node = tuple[str, str, int, int]  # type, name, id, self_size
Edge = tuple[int, str, "str | int", int]  # from, type, name or index, to


def snapshot_json(nodes: list[Node], edges: list[Edge]) -> str:
    """A snapshot with ``nodes`` (node 0 is the root) and ``edges`` in any order."""
    strings: list[str] = [""]

    def s(text: str) -> int:
        if text not in strings:
            strings.append(text)
        return strings.index(text)

    flat_nodes: list[int] = []
    flat_edges: list[int] = []
    for i, (ntype, name, nid, size) in enumerate(nodes):
        mine = [e for e in edges if e[0] == i]
        flat_nodes += [NODE_TYPES.index(ntype), s(name), nid, size, len(mine), 0, 0]
        for _, etype, label, to in mine:
            value = label if isinstance(label, int) else s(label)
            flat_edges += [EDGE_TYPES.index(etype), value, to * len(NODE_FIELDS)]
    doc = {
        "snapshot": {
            "meta": META,
            "node_count": len(nodes),
            "edge_count": len(edges),
            "trace_function_count": 0,
        },
        "nodes": flat_nodes,
        "edges": flat_edges,
        "locations": [],
        "strings": strings,
    }
    return json.dumps(doc)


def write(path: Path, nodes: list[Node], edges: list[Edge]) -> Path:
    path.write_text(snapshot_json(nodes, edges))
    return path


#: root -> (modules) -> module app -> CACHE dict -> 'k' Order -> items list -> str;
#: root -> (modules) -> module other -> shared list <- also from the CACHE dict;
#: an Order held only weakly from the module (reached through a weak edge only)
DIAMOND_NODES: list[Node] = [
    ("synthetic", "", 1, 0),  # 0
    ("synthetic", "(modules)", 2, 0),  # 1
    ("object", "module app", 3, 100),  # 2
    ("object", "dict", 5, 200),  # 3
    ("object", "app.Order", 7, 50),  # 4
    ("object", "list", 9, 40),  # 5
    ("string", "hello", 11, 30),  # 6
    ("object", "module other", 13, 100),  # 7
    ("object", "list", 15, 60),  # 8  shared: app's dict and module other
    ("object", "app.Order", 17, 50),  # 9  only weakly held
    ("object", "app.Order", 19, 50),  # 10 held by Order 4: a nested instance
]
DIAMOND_EDGES: list[Edge] = [
    (0, "element", 1, 1),
    (1, "property", "app", 2),
    (1, "property", "other", 7),
    (2, "property", "CACHE", 3),
    (3, "property", "k", 4),
    (3, "property", "shared", 8),
    (4, "property", "items", 5),
    (4, "property", "child", 10),
    (5, "element", 0, 6),
    (7, "property", "SHARED", 8),
    (2, "weak", "ref", 9),
]
