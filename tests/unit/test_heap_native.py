"""The native heap walker against the pure-Python one, and the fallback between them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memhound.heap import writer
from memhound.heap.v8format import load
from tests.heap import walkers

# A known heap with every kind of object the native walker does itself (str, bytes, numbers,
# dict/list/tuple/set/frozenset, cells, instances: managed __dict__, a materialised one,
# __slots__, a dict subclass) and some it hands to Python (functions, classes, weakrefs).
HEAP_SCRIPT = r"""
import collections, json, os, sys, weakref
from memhound.heap import load, writer

class Slotted:
    __slots__ = ("a", "b")
    def __init__(self, i): self.a = [i]; self.b = "s%d" % i

class Order:
    def __init__(self, i):
        self.name = "order-%d" % i
        self.lines = [i, float(i), complex(i, 1)]
        self.total = i * 1000003
        self.meta = {"k": i, 3: b"x" * (i % 7), (1, 2): True}

class D(dict):
    pass

def closure(i):
    def inner():
        return i
    return inner

HEAP = [Order(i) for i in range(3000)] + [Slotted(i) for i in range(300)]
HEAP += [closure(i) for i in range(200)]
HEAP += [D(a=1), frozenset({1, 2}), {"x", "\u00e9\udcff"}, bytearray(b"ab\x00"), "q\"\\\n\u00fc"]
vars(HEAP[1])  # a materialised __dict__
REF = weakref.ref(HEAP[0])

def take(walker, redact):
    os.environ["MEMHOUND_NO_NATIVE"] = "0" if walker == "native" else "1"
    path = sys.argv[1] + "/" + walker[0] + ".heapsnapshot"
    writer.snapshot(path, redact_strings=redact)
    return path

def summary(path):
    s = load(path)
    names = [s.name(i) for i in range(s.node_count)]
    edges = collections.Counter()
    for i in range(s.node_count):
        for e in range(int(s.first_edge[i]), int(s.first_edge[i + 1])):
            to = names[int(s.edge_to[e])]
            kind = s.edge_types[int(s.edge_type[e])]
            label = s.edge_label(e)
            if names[i] == "(held from C)":
                label = "#"  # numbered in the order found
            key = "\t".join((names[i], kind, label, to))
            for mine, same in VARYING:  # what differs between the two runs by design
                key = key.replace(mine, same)
            edges[key] += 1
    # The walker's own code objects (3.10 counts a code object's opcache, made after enough
    # calls, in its size: the two walkers call different Python functions) and the file
    # names of the two runs are the only nodes whose size differs by design.
    size = sum(
        int(s.self_size[i])
        for i in range(s.node_count)
        if "src/memhound/heap/" not in names[i] and not names[i].endswith(".heapsnapshot")
    )
    return {"nodes": s.node_count, "size": size, "edges": edges}

redact = sys.argv[2] == "1"
VARYING = [("python", "W"), ("native", "W"), ("p.heapsnapshot", "F"), ("n.heapsnapshot", "F"),
           ("[<bytes>]\tb'1'", "E"), ("[<bytes>]\tb'0'", "E")]
for walker in ("python", "native"):  # import what the walks import, once
    summary(take(walker, redact))
for walker in ("python", "native"):  # the same state and line for both
    take(walker, redact)
out = {w: summary(sys.argv[1] + "/" + w[0] + ".heapsnapshot") for w in ("python", "native")}
json.dump(out, sys.stdout)
"""


@pytest.mark.parametrize("redact", [False, True])
def test_native_and_python_walkers_agree(tmp_path: Path, redact: bool) -> None:
    walkers.env("native")  # skips where the extension is not built
    done = subprocess.run(
        [sys.executable, "-c", HEAP_SCRIPT, str(tmp_path), "1" if redact else "0"],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    import json

    out = json.loads(done.stdout)
    py, native = out["python"], out["native"]
    assert native["nodes"] == py["nodes"] > 20_000
    assert native["size"] == py["size"]
    only_py = {k: v for k, v in py["edges"].items() if native["edges"].get(k) != v}
    only_native = {k: v for k, v in native["edges"].items() if py["edges"].get(k) != v}
    assert (only_py, only_native) == ({}, {})


def test_fallback_without_the_extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMHOUND_NO_NATIVE", "1")
    assert writer._native_module() is None
    monkeypatch.setenv("MEMHOUND_NO_NATIVE", "0")
    import memhound._native

    monkeypatch.setitem(sys.modules, "memhound._native._heapwalk", None)  # import fails
    monkeypatch.delattr(memhound._native, "_heapwalk", raising=False)
    assert writer._native_module() is None
    info = writer.snapshot(tmp_path / "p.heapsnapshot")
    snap = load(info.path)
    assert snap.node_count == info.node_count > 1000


def test_native_module_is_used_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    walkers.env("native")
    monkeypatch.setenv("MEMHOUND_NO_NATIVE", "0")
    assert writer._native_module() is not None


def test_native_ids_are_kept_per_object_and_unique(tmp_path: Path) -> None:
    walkers.env("native")  # skips where the extension is not built
    import numpy as np

    from memhound.heap import graph

    kept = [Kept() for _ in range(2000)]
    gone: list[object] = [Gone() for _ in range(2000)]
    with walkers.using("native"):
        first = load(writer.snapshot(tmp_path / "1.heapsnapshot").path)
        del gone[:]
        fresh = [Fresh() for _ in range(500)]  # some at the addresses of the gone ones
        second = load(writer.snapshot(tmp_path / "2.heapsnapshot").path)
    ids: dict[str, list[set[int]]] = {}
    for snap in (first, second):
        assert np.unique(snap.node_id).size == snap.node_count  # unique within a snapshot
        real = snap.node_type != snap.node_types.index("synthetic")
        assert (snap.node_id[real] % 2 == 1).all() and int(snap.node_id.max()) < 2**32
        g = graph.analyse(snap)
        for cls in ("Kept", "Gone", "Fresh"):
            nodes = graph.nodes_of_class(g, f"{__name__}.{cls}")
            ids.setdefault(cls, []).append(set(snap.node_id[nodes].tolist()))
    assert len(ids["Kept"][0]) == 2000 and ids["Kept"][0] == ids["Kept"][1]
    assert len(ids["Gone"][0]) == 2000 and not ids["Gone"][1]
    assert len(ids["Fresh"][1]) == 500 and not ids["Fresh"][1] & set(first.node_id.tolist())
    del kept, fresh


class Kept:
    pass


class Gone:
    pass


class Fresh:
    pass


def test_native_dominators_match_igraph(monkeypatch: pytest.MonkeyPatch) -> None:
    walkers.env("native")  # skips where the extension is not built
    import numpy as np

    from memhound.heap import graph

    rng = np.random.default_rng(4)
    for n, m in ((1, 0), (2, 1), (60, 150), (3000, 6000), (50_000, 80_000)):
        src = rng.integers(0, n, m)
        dst = rng.integers(0, n, m)
        chain = np.arange(0, n - 1, 3)  # a spine, so that most nodes are reached
        src, dst = np.r_[src, chain], np.r_[dst, chain + 1]
        for root in (0, n // 2):
            monkeypatch.delenv("MEMHOUND_NO_NATIVE", raising=False)
            native = graph._dominators(n, root, src, dst)
            monkeypatch.setenv("MEMHOUND_NO_NATIVE", "1")
            ours = graph._dominators(n, root, src, dst)
            assert native.tolist() == ours.tolist(), (n, m, root)


def test_native_number_parsing_names_a_bad_value(tmp_path: Path) -> None:
    walkers.env("native")
    from memhound.heap import v8format

    good = ",".join(["3", " -12", "\n7"] * 3000)
    raw = f"[{good}, 9]".encode()
    out = v8format._numbers_in(raw, 1, len(raw) - 1, "nodes", "f", __import__("numpy"))
    assert out.tolist() == [3, -12, 7] * 3000 + [9]
    for bad in ("9x", "1.5", "", "--1", "12345678901234567890123"):
        raw = f"[{good},{bad},4]".encode()
        with pytest.raises(v8format.SnapshotFormatError, match=r"field 'nodes': value 9000 at"):
            v8format._numbers_in(raw, 1, len(raw) - 1, "nodes", "f", __import__("numpy"))


def test_analysis_is_the_same_with_and_without_the_extension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walkers.env("native")
    from memhound.heap import graph

    held: dict[str, object] = {f"k{i}": [Kept() for _ in range(20)] for i in range(300)}
    chain: list[object] = []
    for _ in range(3000):  # a deep dominator tree: one level per link
        chain = [chain, Kept()]
    held["chain"] = chain
    path = writer.snapshot(tmp_path / "a.heapsnapshot").path
    del held, chain
    results = []
    for off in ("0", "1"):
        monkeypatch.setenv("MEMHOUND_NO_NATIVE", off)
        g = graph.analyse(load(path))
        results.append(
            (
                graph.summary(g),
                g.distance.tolist(),
                g.parent_edge.tolist(),
                g.idom.tolist(),
                g.retained_size.tolist(),
                g.preorder.tolist(),
                g.subtree_nodes.tolist(),
                [d.node_id for d in graph.top_dominators(g, 10)],
            )
        )
    assert results[0] == results[1]
