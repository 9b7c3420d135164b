"""Snapshots of real heaps: a fresh interpreter builds a known heap (tests/heap/heapapp) and
writes snapshots; the analyser must find what was put there."""

from __future__ import annotations

import gc
import json
import os
import stat
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from memhound.errors import OutputNotWritable
from memhound.heap import graph, snapshot
from memhound.heap.diff import diff, three_snapshot
from memhound.heap.v8format import load
from tests.conftest import ROOT, mh, script
from tests.heap import walkers

SCRIPT = ROOT / "tests" / "heap" / "make_snapshots.py"


@pytest.fixture(scope="module", params=walkers.WALKERS)
def walker(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def snaps(tmp_path_factory: pytest.TempPathFactory, walker: str) -> Path:
    out = tmp_path_factory.mktemp("snaps")
    subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        check=True, timeout=300, cwd=out, env=walkers.env(walker),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def main_graph(snaps: Path) -> graph.HeapGraph:
    return graph.analyse(load(snaps / "main.heapsnapshot"))


def test_module_list_of_orders_is_the_top_retainer(main_graph: graph.HeapGraph) -> None:
    top = graph.top_dominators(main_graph, 1)[0]
    assert top.class_name == "list"
    orders = graph.nodes_of_class(main_graph, "heapapp.models.Order")
    assert orders.size == 20_000
    assert all(int(main_graph.idom[o]) == top.node for o in orders[:100])
    # the list retains the Orders with their strings, lists and ints
    shallow = sum(r.shallow_bytes for r in graph.summary(main_graph) if r.class_name == "list")
    assert top.retained_bytes > 20_000 * (56 + 60 + 80)
    assert top.retained_bytes < shallow + 20_000 * 400
    (path,) = graph.retainer_paths(main_graph, top.node)
    assert path.text == "module heapapp.cache -> ORDERS -> list"
    (to_order,) = graph.retainer_paths(main_graph, int(orders[0]))
    assert to_order.text.startswith("module heapapp.cache -> ORDERS -> list[")
    assert to_order.text.endswith("] -> heapapp.models.Order")


def test_summary_by_module(main_graph: graph.HeapGraph) -> None:
    rows = {r.class_name: r for r in graph.summary(main_graph, by="module")}
    models = rows["heapapp.models"]
    assert models.count >= 20_000  # the Orders (and the module's other instances)
    by_type = {r.class_name: r for r in graph.summary(main_graph)}
    assert models.shallow_bytes >= by_type["heapapp.models.Order"].shallow_bytes
    assert "builtins" in rows and "(string)" in rows


def test_instance_attributes_are_named_properties(main_graph: graph.HeapGraph) -> None:
    snap = main_graph.snap
    order = int(graph.nodes_of_class(main_graph, "heapapp.models.Order")[0])
    edges = range(int(snap.first_edge[order]), int(snap.first_edge[order + 1]))
    named = {snap.edge_label(e): snap.name(int(snap.edge_to[e])) for e in edges}
    assert named["customer"].startswith("customer-")
    assert named["lines"] == "list" and named["order_id"] == "int"
    assert named["__class__"] == "class heapapp.models.Order"


def test_closure_variable_is_named_on_the_path(main_graph: graph.HeapGraph) -> None:
    (payload,) = graph.nodes_of_class(main_graph, "heapapp.models.Payload").tolist()
    (path,) = graph.retainer_paths(main_graph, payload)
    assert path.text == (
        "module heapapp.cache -> HANDLERS -> list[0] -> "
        "heapapp.cache.register.<locals>.on_event() -> payload -> {cell_contents} -> "
        "heapapp.models.Payload"
    )
    assert int(main_graph.retained_size[payload]) > 50_000


def test_thread_local_shows_under_its_stack_root(main_graph: graph.HeapGraph) -> None:
    (session,) = graph.nodes_of_class(main_graph, "heapapp.models.Session").tolist()
    (path,) = graph.retainer_paths(main_graph, session)
    assert path.text.startswith("(thread heap-worker) -> worker (")
    line = SCRIPT.read_text().splitlines().index("    stop.wait(30)") + 1  # where it waits
    assert path.text.endswith(f"make_snapshots.py:{line}) -> session -> heapapp.models.Session")


def test_every_node_is_reachable_and_function_locations(main_graph: graph.HeapGraph) -> None:
    snap = main_graph.snap
    assert (main_graph.distance >= 0).sum() >= snap.node_count - 50  # weakly held only
    names = {snap.name(int(i)) for i in graph.nodes_of_class(main_graph, "(closure)")}
    assert any(n.startswith("heapapp.cache.load_orders (") and "cache.py:" in n for n in names)
    # memhound's own walk does not appear: no walker, no frame of it, no list of all objects
    for own in ("heap.writer._Walker", "heap.writer._NativeWalker", "_native._heapwalk.Walk"):
        assert graph.nodes_of_class(main_graph, f"memhound.{own}").size == 0, own
    frames = [snap.name(int(i)) for i in graph.nodes_of_class(main_graph, "(system)")]
    assert not any("writer.py" in f for f in frames if f.startswith("frame "))
    assert int(max(snap.first_edge[1:] - snap.first_edge[:-1])) < 50_000


def test_comparisons_find_exactly_the_leaked_objects(snaps: Path) -> None:
    a, b, c = (load(snaps / f"{x}.heapsnapshot") for x in "abc")
    gc_ = graph.analyse(c)
    rows = {r.class_name: r for r in diff(a, b)}
    assert rows["heapapp.models.Leak"].new_count == 500
    assert rows["heapapp.models.Leak"].deleted_count == 0
    assert "heapapp.models.Temp" not in rows  # made and dropped between a and b
    rows_bc = {r.class_name: r for r in diff(b, c)}
    assert rows_bc["heapapp.models.Leak"].deleted_count == 100
    groups = {g.class_name: g for g in three_snapshot(a, b, c, gc_)}
    leak = groups["heapapp.models.Leak"]
    assert leak.count == 400
    assert "heapapp.models.Temp" not in groups
    assert leak.paths[0].text.startswith("module heapapp.cache -> LEAKS -> list[")


LEAKY_SCRIPT = """
import sys
import threading
import memhound

def idle():  # a thread waiting all along: its frames' locals are read by every snapshot
    done = threading.Event()
    done.wait(600)

threading.Thread(target=idle, daemon=True).start()

class Session:
    def __init__(self, n):
        self.n = n
        self.data = bytearray(200)

KEEP = []

def work():
    for i in range(300):
        KEEP.append(Session(i))

work()
assert "numpy" not in sys.modules  # memhound's first snapshot brings it
for name in "abc":
    memhound.snapshot(name + ".heapsnapshot")
    work()
"""


def test_three_snapshots_of_a_script_show_its_leak_and_nothing_of_memhound(
    tmp_path: Path, walker: str
) -> None:
    # The first in-process snapshot imports numpy (~200 modules) and builds caches: made
    # after the first walk, they were new objects in the second snapshot and ranked above
    # the script's own leak (which came 6th). And the dicts a waiting thread's frames copy
    # their locals into when the first walk reads them were "new, held from C" after it.
    path = script(tmp_path, "leaky.py", LEAKY_SCRIPT)
    subprocess.run(
        [sys.executable, path], check=True, timeout=300, cwd=tmp_path, env=walkers.env(walker)
    )
    a, b, c = (load(tmp_path / f"{x}.heapsnapshot") for x in "abc")
    graph_c = graph.analyse(c)
    groups = three_snapshot(a, b, c, graph_c)
    assert groups[0].class_name == "__main__.Session" and groups[0].count == 300
    assert groups[0].paths[0].text.startswith("module __main__ -> KEEP -> list[")
    for g in groups:
        text = " ".join([g.class_name, *(p.text for p in g.paths)])
        assert "memhound" not in text and "numpy" not in text, text
        assert "(held from C)" not in text, text
    # and in the plain comparison, nothing but the script's objects is new in the second
    new = {r.class_name for r in diff(a, b) if r.new_count}
    assert "__main__.Session" in new
    assert not [n for n in new if "numpy" in n or "memhound" in n or n.startswith("module")]
    # memhound's modules and the ones it imported are under its own root, not (modules)
    own = graph.reached_through(graph_c, ["(memhound)"])
    names = {graph_c.snap.name(int(i)) for i in own.nonzero()[0]}
    assert {"module numpy", "module memhound.heap.writer"} <= names
    assert "module __main__" not in names


def test_redaction_file_mode_and_gzip(snaps: Path) -> None:
    plain = (snaps / "main.heapsnapshot").read_bytes()
    assert b"s3cr3t-token-XYZ" in plain
    redacted_path = snaps / "redacted.heapsnapshot.gz"
    assert redacted_path.read_bytes()[:2] == b"\x1f\x8b"
    redacted = load(redacted_path)
    assert not any("s3cr3t" in s or "customer-1" in s for s in redacted.strings)
    assert any(s.startswith("<str len=") for s in redacted.strings)
    for f in snaps.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not [f for f in snaps.iterdir() if f.name.endswith(".tmp")]


class Marker:
    pass


def test_in_process_ids_are_stable_and_threads_survive(tmp_path: Path, walker: str) -> None:
    marker = Marker()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(30,), name="busy")
    t.start()
    try:
        with walkers.using(walker):
            first = snapshot(tmp_path / "1.heapsnapshot", collect=False)
            second = snapshot(tmp_path / "2.heapsnapshot")
    finally:
        stop.set()
        t.join()
    assert first.node_count > 1000 and first.total_size_bytes > 0
    ids = []
    for info in (first, second):
        g = graph.analyse(load(info.path))
        nodes = graph.nodes_of_class(g, f"{__name__}.Marker")
        assert nodes.size == 1
        ids.append(int(g.snap.node_id[nodes[0]]))
        assert ids[-1] % 2 == 1 and ids[-1] < 2**32  # odd, and within V8's uint32
        assert any(g.snap.name(i) == "(thread busy)" for i in range(20))
    assert ids[0] == ids[1]
    del marker
    gc.collect()


def test_allocation_sites_under_tracemalloc(tmp_path: Path, walker: str) -> None:
    tracemalloc.start(3)
    try:
        # strings: tracemalloc finds their site on every version (3.11 misses instances of
        # classes with a managed __dict__, and objects reused from free lists have none)
        held = ["x" * (100 + i) for i in range(50)]
        line = sys._getframe().f_lineno - 1
        with walkers.using(walker):
            snapshot(tmp_path / "t.heapsnapshot")
    finally:
        tracemalloc.stop()
    snap = load(tmp_path / "t.heapsnapshot")
    assert snap.trace_sites and snap.node_trace is not None
    rows = graph.summary(graph.analyse(snap), by="site")
    here = [r for r in rows if r.class_name == f"{__file__}:{line}"]
    assert here and here[0].count >= len(held)
    r = mh("heap", "summary", str(tmp_path / "t.heapsnapshot"), "--by", "site", "--json")
    assert f"test_heap_snapshot.py:{line}" in r.stdout


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputNotWritable, match="cannot write"):
        snapshot(tmp_path / "no" / "such" / "dir" / "x.heapsnapshot")
    if not Path("/dev/full").exists():
        return
    # a write that fails half way (here: a full device) leaves no partial file behind
    from memhound._fsutil import atomic_private_file

    full = os.open("/dev/full", os.O_WRONLY)
    try:
        with (
            pytest.raises(OutputNotWritable, match="No space left"),
            atomic_private_file(tmp_path / "x.heapsnapshot") as fh,
        ):
            os.dup2(full, fh.fileno())
            fh.write(b"x" * (2 << 20))
    finally:
        os.close(full)
    assert list(tmp_path.iterdir()) == []


def test_cli_commands(snaps: Path) -> None:
    main = str(snaps / "main.heapsnapshot")
    r = mh("heap", "summary", main, "--top", "5")
    assert r.returncode == 0, r.stderr
    assert "heapapp.models.Order" in r.stdout and "retained" in r.stdout
    r = mh("heap", "summary", main, "--json")
    doc = json.loads(r.stdout)
    assert doc["kind"] == "summary"
    orders = [c for c in doc["classes"] if c["class_name"] == "heapapp.models.Order"]
    assert orders[0]["count"] == 20_000
    r = mh("heap", "retainers", main, "--type", "heapapp.models.Order", "--paths", "2")
    assert r.returncode == 0, r.stderr
    assert "module heapapp.cache -> ORDERS -> list[" in r.stdout
    r = mh("heap", "dominators", main, "--top", "3", "--json")
    top = json.loads(r.stdout)["dominators"][0]
    assert top["class_name"] == "list"
    r = mh("heap", "retainers", main, "--id", str(top["node_id"]), "--json")
    assert json.loads(r.stdout)["objects"][0]["paths"][0]["text"].endswith("ORDERS -> list")
    r = mh("heap", "diff", *(str(snaps / f"{x}.heapsnapshot") for x in "abc"), "--json")
    groups = {g["class_name"]: g for g in json.loads(r.stdout)["groups"]}
    assert groups["heapapp.models.Leak"]["count"] == 400
    r = mh("heap", "diff", str(snaps / "a.heapsnapshot"), str(snaps / "b.heapsnapshot"))
    assert "heapapp.models.Leak" in r.stdout and "+500" in r.stdout


def test_cli_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.heapsnapshot"
    bad.write_text('{"snapshot": {"meta": {}}, "nodes": [1,2,')
    r = mh("heap", "summary", str(bad))
    assert r.returncode == 2
    assert "error:" in r.stderr and "'nodes'" in r.stderr and "hint:" in r.stderr
    r = mh("heap", "diff", str(bad))
    assert r.returncode == 2 and "two or three" in r.stderr
    r = mh("heap", "retainers", str(bad))
    assert r.returncode == 2  # argparse: --type or --id is required


def test_cli_refuses_bad_numbers_and_files_without_a_traceback(snaps: Path) -> None:
    good = str(snaps / "a.heapsnapshot")
    for args, said in [
        (("summary", good, "--top", "-5"), "-5 is too small: give 1 or more"),
        (("retainers", good, "--type", "x", "--paths", "-1"), "-1 is too small"),
        (("dominators", good, "--top", "many"), "'many' is not a whole number"),
        (("summary", good, "--max-size", "0"), "--max-size must be more than 0"),
        (("summary", good, "--max-size", "1e400"), "more bytes than any machine has"),
        (("summary", "/dev/zero"), "is not a regular file"),
    ]:
        r = mh("heap", *args, timeout=60)
        assert r.returncode == 2 and said in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


NAMES = """
import sys
sys.path.insert(0, {heap_dir!r})
from heapapp import cache
from memhound.heap import snapshot

class Order:  # __main__.Order, beside heapapp.models.Order
    pass

class Invoice:  # only __main__ has one
    def __init__(self, i):
        self.text = f"invoice-{{i}}"

CACHE = {{i: Invoice(i) for i in range(5000)}}  # a module-level dict: the biggest dominator
MINE = [Order() for _ in range(10)]
cache.load_orders(100)
snapshot(sys.argv[1])
"""


@pytest.fixture(scope="module")
def names_snap(tmp_path_factory: pytest.TempPathFactory, walker: str) -> str:
    """A program's own classes (``__main__.Invoice``, ``__main__.Order``) beside heapapp's."""
    out = tmp_path_factory.mktemp("names")
    prog = out / "prog.py"
    prog.write_text(NAMES.format(heap_dir=str(ROOT / "tests" / "heap")))
    path = out / "names.heapsnapshot"
    subprocess.run(
        [sys.executable, str(prog), str(path)],
        check=True, timeout=300, cwd=out, env=walkers.env(walker),
    )  # fmt: skip
    return str(path)


def test_cli_retainers_of_an_unqualified_class(names_snap: str) -> None:
    """`--type Invoice` for `__main__.Invoice` said "no object of class 'Invoice'"."""
    r = mh("heap", "retainers", names_snap, "--type", "Invoice", "--objects", "1", "--json")
    assert r.returncode == 0, r.stderr
    (found,) = json.loads(r.stdout)["objects"]
    assert found["object"]["class_name"] == "__main__.Invoice"
    assert found["paths"][0]["text"].startswith("module __main__ -> CACHE -> ")
    r = mh("heap", "retainers", names_snap, "--type", "models.Order", "--objects", "1")
    assert r.returncode == 0, r.stderr
    assert "module heapapp.cache -> ORDERS -> list[" in r.stdout


def test_cli_retainers_of_an_ambiguous_class_lists_the_candidates(names_snap: str) -> None:
    r = mh("heap", "retainers", names_snap, "--type", "Order")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "'Order' names 2 classes" in r.stderr
    assert "heapapp.models.Order (100 objects)" in r.stderr
    assert "__main__.Order (10 objects)" in r.stderr
    assert "--type heapapp.models.Order" in r.stderr  # the hint: the one with most objects
    r = mh("heap", "retainers", names_snap, "--type", "__main__.Order", "--objects", "1")
    assert r.returncode == 0 and "__main__.Order @" in r.stdout  # in full, no ambiguity


def test_cli_dominators_name_what_holds_them(names_snap: str) -> None:
    """`dict @405` said nothing of which dict: the row names its holder, `CACHE`."""
    r = mh("heap", "dominators", names_snap, "--top", "1")
    assert r.returncode == 0, r.stderr
    row = r.stdout.splitlines()[3]
    assert row.startswith("module __main__ -> CACHE -> dict "), r.stdout
    r = mh("heap", "dominators", names_snap, "--top", "10", "--json")
    rows = json.loads(r.stdout)["dominators"]
    assert rows[0]["class_name"] == "dict" and rows[0]["holder"] == "module __main__ -> CACHE"
    orders = next(d for d in rows if d["holder"] == "module heapapp.cache -> ORDERS")
    assert orders["class_name"] == "list"
