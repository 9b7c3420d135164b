"""The snapshot writer on real objects of this process: what each kind of reference becomes."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memhound.heap import graph, snapshot
from memhound.heap.v8format import HeapSnapshot, load
from tests.heap import walkers


class Shadow:
    x: Any = None  # a class default the instance shadows

    def __init__(self) -> None:
        self.x = ["shadowing"]
        self.other = ("tuple-value",)


class Plain:
    def __init__(self) -> None:
        self.first = ["first"]
        self.second = {"k": "v"}


class Target:
    pass


class Holder:
    """Everything the tests look at, reachable from this module."""

    def __init__(self) -> None:
        self.int_keys = {3: ["three"], "name": ["named"]}
        self.members = {frozenset({1}), "member"}
        self.target = Target()
        self.ref = weakref.ref(self.target)
        self.shadow = Shadow()
        self.plain = Plain()
        self.materialised = Plain()
        vars(self.materialised)  # its __dict__ now exists as a dict
        self.dynamic = Target()
        setattr(self.dynamic, "made_" + "up", ["dynamic"])
        self.secret = {"alice@example.com": "s3cr3t-value"}


HOLDER: Holder | None = None


@pytest.fixture(scope="module", params=walkers.WALKERS)
def snaps(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[HeapSnapshot, HeapSnapshot]]:
    global HOLDER
    HOLDER = Holder()
    out = tmp_path_factory.mktemp("w")
    try:
        with walkers.using(request.param):
            snapshot(out / "plain.heapsnapshot")
            snapshot(out / "redacted.heapsnapshot", redact_strings=True)
        yield load(out / "plain.heapsnapshot"), load(out / "redacted.heapsnapshot")
    finally:
        HOLDER = None
        gc.collect()


def edges_of(snap: HeapSnapshot, node: int) -> list[tuple[str, str, str]]:
    """(edge type, edge label, target name) of every edge of ``node``."""
    return [
        (
            snap.edge_types[int(snap.edge_type[e])],
            snap.edge_label(e),
            snap.name(int(snap.edge_to[e])),
        )
        for e in range(int(snap.first_edge[node]), int(snap.first_edge[node + 1]))
    ]


def the(snap: HeapSnapshot, name: str) -> int:
    (found,) = [i for i in range(snap.node_count) if snap.name(i) == name]
    return found


def holder_edges(snap: HeapSnapshot) -> dict[str, int]:
    node = the(snap, f"{__name__}.Holder")
    return {
        snap.edge_label(e): int(snap.edge_to[e])
        for e in range(int(snap.first_edge[node]), int(snap.first_edge[node + 1]))
    }


def test_dicts_sets_and_weak_references(snaps: tuple[HeapSnapshot, HeapSnapshot]) -> None:
    snap = snaps[0]
    h = holder_edges(snap)
    int_keys = edges_of(snap, h["int_keys"])
    assert ("internal", "[3]", "list") in int_keys
    assert ("property", "name", "list") in int_keys
    assert ("hidden", "1", "name") in int_keys  # the key itself is an object too
    members = edges_of(snap, h["members"])
    assert {(t, n) for t, _, n in members} == {("element", "frozenset"), ("element", "member")}
    ref = edges_of(snap, h["ref"])
    assert ("weak", "__referent__", f"{__name__}.Target") in ref


def test_attributes_are_named_without_making_dicts(
    snaps: tuple[HeapSnapshot, HeapSnapshot],
) -> None:
    snap = snaps[0]
    h = holder_edges(snap)
    shadow = {label: (t, n) for t, label, n in edges_of(snap, h["shadow"])}
    assert shadow["x"] == ("property", "list") and shadow["other"] == ("property", "tuple")
    for key in ("plain", "materialised"):
        named = {label: n for t, label, n in edges_of(snap, h[key]) if t == "property"}
        assert named == {"first": "list", "second": "dict"}, key
    dynamic = edges_of(snap, h["dynamic"])
    assert any(n == "list" for _, _, n in dynamic)  # reachable, named when it can be
    assert HOLDER is not None
    if sys.version_info >= (3, 11):  # the walk must not have materialised __dict__
        refs = gc.get_referents(HOLDER.plain)
        assert not any(type(r) is dict and set(r) == {"first", "second"} for r in refs)


def test_classes_and_modules_fold_their_dicts(snaps: tuple[HeapSnapshot, HeapSnapshot]) -> None:
    snap = snaps[0]
    cls = edges_of(snap, the(snap, f"class {__name__}.Shadow"))
    assert ("property", "__init__", next(n for _, lbl, n in cls if lbl == "__init__")) in cls
    assert any(
        lbl == "__init__" and n.startswith(f"{__name__}.Shadow.__init__ (") for _, lbl, n in cls
    )
    module = edges_of(snap, the(snap, f"module {__name__}"))
    assert ("property", "HOLDER", f"{__name__}.Holder") in module


def test_redaction(snaps: tuple[HeapSnapshot, HeapSnapshot], tmp_path: Path) -> None:
    plain, redacted = snaps
    assert "alice@example.com" in plain.strings and "s3cr3t-value" in plain.strings
    assert "alice@example.com" not in redacted.strings
    assert not any("s3cr3t" in s for s in redacted.strings)
    secret = edges_of(redacted, holder_edges(redacted)["secret"])
    assert ("element", "0", "<str len=12>") in secret
    g = graph.analyse(redacted)
    assert graph.nodes_of_class(g, f"{__name__}.Holder").size == 1  # names of code stay
