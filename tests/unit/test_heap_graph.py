"""Heap analysis on hand-built snapshots: distances, dominators, retained sizes, paths, diffs."""

from __future__ import annotations

from pathlib import Path

import pytest

from memhound.heap import graph
from memhound.heap.diff import diff, three_snapshot
from memhound.heap.v8format import load
from tests.heap.handmade import DIAMOND_EDGES, DIAMOND_NODES, Edge, Node, write


@pytest.fixture()
def diamond(tmp_path: Path) -> graph.HeapGraph:
    return graph.analyse(load(write(tmp_path / "d.heapsnapshot", DIAMOND_NODES, DIAMOND_EDGES)))


def test_distances_follow_strong_edges_only(diamond: graph.HeapGraph) -> None:
    assert diamond.distance.tolist() == [0, 1, 2, 3, 4, 5, 6, 2, 3, -1, 5]


def test_dominators_and_retained_sizes(diamond: graph.HeapGraph) -> None:
    # node 8 is held from two modules: only (modules) dominates it; node 9 is only weakly held
    assert diamond.idom.tolist() == [0, 0, 1, 2, 3, 4, 5, 1, 1, 0, 4]
    assert diamond.retained_size.tolist() == [680, 630, 470, 370, 170, 70, 30, 100, 60, 50, 50]
    assert int(diamond.retained_size[0]) == sum(n[3] for n in DIAMOND_NODES)


def test_summary_counts_nested_instances_once(diamond: graph.HeapGraph) -> None:
    rows = {r.class_name: r for r in graph.summary(diamond)}
    order = rows["app.Order"]
    assert (order.count, order.shallow_bytes, order.min_distance) == (3, 150, 4)
    assert order.retained_bytes == 170 + 50  # Order 10 lies inside Order 4's retained size
    assert rows["list"].retained_bytes == 70 + 60
    assert rows["(string)"].count == 1
    assert "(modules)" not in rows and "" not in rows  # synthetic nodes are not classes


def test_retainer_paths_read_like_devtools(diamond: graph.HeapGraph) -> None:
    (path,) = graph.retainer_paths(diamond, 4)
    assert path.text == "module app -> CACHE -> dict['k'] -> app.Order"
    assert [h.edge_name for h in path.hops] == ["1", "app", "CACHE", "k"]
    (to_str,) = graph.retainer_paths(diamond, 6)
    assert to_str.text == "module app -> CACHE -> dict['k'] -> items -> list[0] -> 'hello'"
    shared = graph.retainer_paths(diamond, 8, paths=5)
    assert [p.text for p in shared] == [
        "module other -> SHARED -> list",
        "module app -> CACHE -> dict['shared'] -> list",
    ]
    assert graph.retainer_paths(diamond, 9) == []  # weak references are not retainers


def test_top_dominators_leave_out_modules(diamond: graph.HeapGraph) -> None:
    top = graph.top_dominators(diamond, 3)
    assert [(d.node, d.retained_bytes) for d in top] == [(3, 370), (4, 170), (5, 70)]
    assert top[0].node_id == 5 and top[0].class_name == "dict"


def test_lookups(diamond: graph.HeapGraph) -> None:
    assert graph.nodes_of_class(diamond, "app.Order").tolist() == [4, 9, 10]
    assert graph.nodes_of_class(diamond, "nope").size == 0
    assert graph.node_of_id(diamond, 17) == 9
    assert graph.node_of_id(diamond, 4) is None


def _chain(n: int) -> tuple[list[Node], list[Edge]]:
    nodes: list[Node] = [("synthetic", "", 1, 0)]
    edges: list[Edge] = []
    for i in range(1, n + 1):
        nodes.append(("object", "Link", 2 * i + 1, 10))
        edges.append((i - 1, "property", "next", i))
    return nodes, edges


def test_a_long_chain_has_nested_retained_sizes(tmp_path: Path) -> None:
    nodes, edges = _chain(2000)
    g = graph.analyse(load(write(tmp_path / "c.heapsnapshot", nodes, edges)))
    assert int(g.retained_size[1]) == 20_000
    assert int(g.retained_size[2000]) == 10
    assert int(g.distance[2000]) == 2000
    (row,) = graph.summary(g)
    assert (row.count, row.retained_bytes) == (2000, 20_000)


def _objects(ids: list[int], name: str = "Leak") -> tuple[list[Node], list[Edge]]:
    nodes: list[Node] = [("synthetic", "", 1, 0), ("object", "module m", 3, 10)]
    edges: list[Edge] = [(0, "element", 1, 1)]
    for k, nid in enumerate(ids):
        nodes.append(("object", name, nid, 100))
        edges.append((1, "element", k, len(nodes) - 1))
    return nodes, edges


def test_diff_and_three_snapshot_match_objects_by_id(tmp_path: Path) -> None:
    a = load(write(tmp_path / "a", *_objects([11, 13, 15])))
    b = load(write(tmp_path / "b", *_objects([13, 15, 17, 19, 21])))
    c = load(write(tmp_path / "c", *_objects([15, 19, 21, 23])))
    ga, gc = graph.analyse(a), graph.analyse(c)
    (row,) = diff(a, b)
    assert (row.class_name, row.new_count, row.deleted_count, row.delta_count) == (
        "Leak",
        3,
        1,
        2,
    )
    assert (row.allocated_bytes, row.freed_bytes, row.delta_bytes) == (300, 100, 200)
    (group,) = three_snapshot(a, b, c, gc)
    # 17, 19, 21 are new in b; 17 died before c; 23 is new in c, not a leak of a -> b
    assert (group.class_name, group.count, group.shallow_bytes) == ("Leak", 2, 200)
    assert sorted(group.sample_ids) == [19, 21]
    assert group.paths[0].text.startswith("module m -> module m[")
    assert three_snapshot(a, a, a, ga) == []


def test_three_snapshot_counts_nested_leaks_once(tmp_path: Path) -> None:
    base: list[Node] = [("synthetic", "", 1, 0), ("object", "module m", 3, 10)]
    a = load(write(tmp_path / "a", base, [(0, "element", 1, 1)]))
    nodes = [*base, ("object", "Leak", 5, 100), ("object", "Leak", 7, 100)]
    edges: list[Edge] = [(0, "element", 1, 1), (1, "property", "L", 2), (2, "property", "n", 3)]
    b = load(write(tmp_path / "b", nodes, edges))
    (group,) = three_snapshot(a, b, b, graph.analyse(b))
    assert (group.count, group.shallow_bytes, group.retained_bytes) == (2, 200, 200)
    assert group.paths[0].text == "module m -> L -> Leak"
