"""`memhound soak` on the rest of the leak zoo: each leak found by the right signal (heap bytes
per request, threads, fds and sockets) and pinned on its holder; the gc sawtooth left alone.

The "true" figures below are the traced Python heap each app retains per request on CPython
3.11 (64-bit), measured by driving the app in a plain loop under tracemalloc (1,000 requests
after 200 of warm-up, ``bench/soak_accuracy.py``), and checked against ``sys.getsizeof`` of
the parts. The tolerance is the issue's bar: 25%.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ROOT, mh
from tests.zoo_truth import true_bytes_per_request

ZOO = "examples.leaks.zoo"
ZOO_FILE = str(ROOT / "examples" / "leaks" / "zoo.py")

Soak = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Soak:
    """One soak per app and arguments, shared by the tests that read it (a run with heap
    snapshots costs ~15 s here, whatever the request count)."""
    done: dict[tuple[str, ...], dict[str, Any]] = {}

    def run(app: str, n: int, *extra: str) -> dict[str, Any]:
        key = (app, str(n), *extra)
        if key not in done:
            out = tmp_path_factory.mktemp(app)
            res = mh(
                "soak",
                "--json",
                "--wsgi",
                f"{ZOO}:{app}",
                "-n",
                str(n),
                "-o",
                str(out / "run"),
                *extra,
                cwd=ROOT,
                timeout=300,
            )
            assert res.returncode == 0, res.stderr
            done[key] = json.loads(res.stdout)
        return done[key]

    return run


def near(value: float, true: float, tolerance: float = 0.25) -> bool:
    return (1 - tolerance) * true <= value <= (1 + tolerance) * true


def steady(doc: dict[str, Any], *names: str) -> None:
    for name in names:
        assert doc["resources"][name]["leak"] is False, (name, doc["resources"][name])


# --- the heap: bytes per request and what holds them ------------------------------------


def test_a_closure_on_a_listener_list(soak: Soak) -> None:
    doc = soak("LISTENERS", 400)
    assert doc["leak"] is True
    # function 152 + cell 40 + closure tuple 48 + Request 56 (+ ~32 of inline attribute
    # values) + its body bytes(300) 333 + a list slot 8: ~670 B (measured: 670).
    assert near(doc["bytes_per_request"], 670)
    steady(doc, "fds", "threads")


def test_a_closure_on_a_listener_list_is_held_by_the_list(soak: Soak) -> None:
    doc = soak("LISTENERS", 400)
    top = doc["growing"][0]
    assert top["class_name"] == "(closure)"
    assert top["path"].startswith(f"module {ZOO} -> _LISTENERS -> list[")
    assert f"{ZOO}.LISTENERS.<locals>.on_shutdown (examples/leaks/zoo.py:" in top["path"]
    # and the request the closure captured, by the name of its variable
    assert any("on_shutdown() -> request -> {cell_contents}" in g["path"] for g in doc["growing"])


def test_lru_cache_on_a_method_keeps_every_self(soak: Soak) -> None:
    doc = soak("LRU_METHOD", 400)
    assert doc["leak"] is True
    # PriceList 56 (+ ~32 of attribute values) + rows bytes(400) 433 + the cache key
    # (self, "sku-1") 56 + the result int 28 + the cache dict's entry (24 B, amortised over
    # its resizes ~30-60 B): ~640 B (measured: 637).
    assert near(doc["bytes_per_request"], 637)
    top = doc["growing"][0]
    # the keys, each holding its PriceList, in the dict of the lru_cache wrapper on the class
    assert top["class_name"] == "tuple"
    assert top["path"].startswith(f"module {ZOO} -> PriceList -> price -> {{dict}} -> dict[")


def test_a_logger_per_request_is_kept_by_the_logging_manager(soak: Soak) -> None:
    doc = soak("LOGGER_PER_REQUEST", 400)
    assert doc["leak"] is True
    # Logger 56 + its 9 attributes' values + name "req.N" ~59 + handlers and filters lists
    # 56 + 56 + _cache dict 64 + entries in loggerDict and in the "req" placeholder's
    # loggerMap: ~590 B (measured: 592).
    assert near(doc["bytes_per_request"], 592)
    top = doc["growing"][0]
    assert top["class_name"] == "logging.Logger"
    assert top["path"].startswith("module logging -> Logger -> manager -> loggerDict -> dict['req.")


def test_stored_exceptions_keep_their_frames(soak: Soak) -> None:
    doc = soak("STORED_EXCEPTIONS", 400)
    assert doc["leak"] is True
    # The exception 96 + args 48 + message 86, two tracebacks 2 x 56 and their frames
    # 280 + 208, the frame's local statement bytes(4000) 4,033, and the request's environ
    # the handler's frame still holds (dict 464 with its values, BytesIO, start_response's
    # closure): ~6.2 KiB (measured: 6,224).
    assert near(doc["bytes_per_request"], 6224)
    top = doc["growing"][0]
    assert top["class_name"] == f"{ZOO}.PaymentDeclined"
    assert top["path"].startswith(f"module {ZOO} -> _ERRORS -> list[")
    assert top["path"].endswith(f"] -> {ZOO}.PaymentDeclined")


def test_an_unbounded_cache_keyed_by_something_unique(soak: Soak) -> None:
    doc = soak("UNBOUNDED_CACHE", 1000, "--no-snapshots")
    assert doc["leak"] is True
    # key "/?_=000000000123&lang=en-GB&theme=light" 88 + page bytes(500) 533 + the dict's
    # entry (16 B for str keys, amortised over resizes ~20 B): ~641 B (measured: 641).
    assert near(doc["bytes_per_request"], 641)
    lo, hi = doc["ci95"]
    assert lo <= doc["bytes_per_request"] <= hi


# --- resources: threads, fds, sockets ---------------------------------------------------


@pytest.mark.parametrize(
    ("app", "true_bytes"),
    [
        # Timer (a Thread) + its Event, Condition and locks, the _active and _dangling
        # entries, the args tuple: ~4.3 KiB (measured: 4,301)
        ("TIMER_PER_REQUEST", 4301),
        # the same without the Timer's own Event and args: ~4.1 KiB (measured: 4,145)
        ("THREAD_PER_REQUEST", 4145),
    ],
)
def test_a_thread_per_request_grows_the_threads(soak: Soak, app: str, true_bytes: int) -> None:
    # the figures above are 3.11's; a thread and its frames are bigger on 3.10: measure here
    true_bytes = round(true_bytes_per_request(app))
    doc = soak(app, 300, "--no-snapshots")
    assert doc["leak"] is True
    threads = doc["resources"]["threads"]
    assert threads["leak"] is True
    assert 0.95 <= threads["per_request"] <= 1.05
    assert threads["last"] - threads["first"] >= 290  # 300 threads, one per request
    steady(doc, "fds")
    assert near(doc["bytes_per_request"], true_bytes)  # the Thread objects are on the heap
    opened = sum(x["count"] for x in doc["left_open"] if x["kind"] == "thread")
    assert opened >= 50  # left_open keeps 50 groups at most


def test_a_socket_per_request_grows_fds_and_established_sockets(soak: Soak) -> None:
    doc = soak("SOCKET_PER_REQUEST", 200, "--no-snapshots")
    assert doc["leak"] is True
    res = doc["resources"]
    for name in ("fds", "fds.socket", "sockets.ESTABLISHED"):
        assert res[name]["leak"] is True, name
        assert 0.95 <= res[name]["per_request"] <= 1.05, name
    (peer,) = (k for k in res if k.startswith("sockets.to:127.0.0.1:"))
    assert res[peer]["leak"] is True and res[peer]["last"] == 200
    steady(doc, "threads", "sockets.LISTEN")  # the backend's listener: one, from the first


def test_sockets_left_open_are_one_group_at_the_apps_line(soak: Soak) -> None:
    doc = soak("SOCKET_PER_REQUEST", 200, "--no-snapshots")
    # (the app's own listener, opened on the first request, is there too, as one socket)
    sockets = [x for x in doc["left_open"] if x["what"].startswith("socket to ")]
    # 200 from the verdict run, and 50 more from the short round that records deep stacks
    assert max(x["count"] for x in sockets) == 250
    assert all(x["created_at"].startswith(ZOO_FILE + ":") for x in sockets)


# --- control ----------------------------------------------------------------------------


def test_a_gc_sawtooth_is_not_a_leak(soak: Soak) -> None:
    doc = soak("GC_SAWTOOTH", 1500)
    assert doc["leak"] is False, doc
    assert doc["growing"] == []
    assert abs(doc["bytes_per_request"]) < 16  # the default --min-leak


def test_the_zoo_documents_every_app() -> None:
    from examples.leaks import zoo

    apps = [v for k, v in vars(zoo).items() if k.isupper() and callable(v)]
    assert len(apps) >= 20
    for app in apps:
        doc = app.__doc__ or ""
        assert doc.startswith(("Leak:", "Control:", "Two endpoints:")), app.__name__
