"""memhound's pytest plugin, exercised with pytester in a subprocess (a real pytest run)."""

from __future__ import annotations

import textwrap

import pytest

from tests.servers import Postgres, Redis


def line_of(pytester: pytest.Pytester, text: str) -> int:
    """The line of the generated test file that holds ``text``."""
    lines = (pytester.path / "test_it.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def run(pytester: pytest.Pytester, code: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_it=textwrap.dedent(code))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args)


def test_plugin_is_inert_without_markers(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        import tracemalloc
        def test_plain():
            assert not tracemalloc.is_tracing()
    """,
    )
    res.assert_outcomes(passed=1)


def test_limit_memory(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        import pytest
        KEEP = []

        @pytest.mark.memhound_limit_memory("24 MiB")
        def test_too_much():
            KEEP.append(bytearray(40 << 20))

        @pytest.mark.memhound_limit_memory("24 MiB")
        def test_temporary_peak():
            data = [bytearray(1 << 20) for _ in range(30)]
            del data

        @pytest.mark.memhound_limit_memory("64 MiB")
        def test_within():
            data = bytearray(40 << 20)
            del data
    """,
    )
    res.assert_outcomes(passed=1, failed=2)
    out = res.stdout.str()
    assert (
        "memory limit exceeded: test_too_much allocated 40.0 MiB at its peak, over its "
        "limit of 24.0 MiB" in out
    )
    assert "40.0 MiB in" in out
    assert f"blocks at test_it.py:{line_of(pytester, 'KEEP.append(')}" in out
    assert "test_temporary_peak allocated 30.0 MiB at its peak" in out
    assert "all of it was freed again before the test returned" in out


def test_no_leaks_finds_a_leak_and_passes_controls(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        import functools
        import pytest

        class Order:
            def __init__(self, n):
                self.n = n

        AUDIT = []
        CACHE = {}

        @pytest.mark.no_leaks(iterations=30, warmup=5)
        def test_leaky():
            AUDIT.append(Order(len(AUDIT)))

        @pytest.mark.no_leaks(iterations=30, warmup=5)
        @pytest.mark.parametrize("round", range(5))
        def test_temporaries(round):
            data = [Order(i) for i in range(2000)]
            assert len(data) == 2000

        @functools.lru_cache(maxsize=16)
        def lookup(key):
            return [key] * 100

        @pytest.mark.no_leaks(iterations=30, warmup=20)
        @pytest.mark.parametrize("round", range(3))
        def test_bounded_cache_fills_in_warmup(round):
            for k in range(16):
                lookup(k)

        @pytest.mark.no_leaks(iterations=30, warmup=5)
        def test_cycles_collected():
            a = {}
            a["self"] = a
    """,
    )
    res.assert_outcomes(passed=9, failed=1)
    out = res.stdout.str()
    assert "memory leak: test_leaky retained" in out
    assert "per iteration" in out and "over 30 iterations after 5 warm-up" in out
    assert f"at test_it.py:{line_of(pytester, 'AUDIT.append(')}" in out
    assert "+1.0 test_it.Order" in out


def test_no_resource_leaks_files_sockets_threads(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        import socket, threading
        import pytest

        KEPT = []

        @pytest.mark.no_resource_leaks
        def test_leaks_a_file(tmp_path):
            KEPT.append(open(tmp_path / "x.txt", "w"))

        @pytest.mark.no_resource_leaks
        def test_leaks_a_socket():
            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen()
            KEPT.append(server)

        @pytest.mark.no_resource_leaks
        def test_leaks_a_thread():
            stop = threading.Event()
            KEPT.append(stop)
            t = threading.Thread(target=stop.wait, name="poller", daemon=True)
            t.start()

        @pytest.mark.no_resource_leaks
        def test_closes_everything(tmp_path):
            with open(tmp_path / "y.txt", "w") as fh:
                fh.write("x")
            s = socket.socket()
            s.close()
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()

        def test_zzz_cleanup():
            for obj in KEPT:
                getattr(obj, "close", getattr(obj, "set", lambda: None))()
    """,
    )
    res.assert_outcomes(passed=2, failed=3)
    out = res.stdout.str()
    assert "resource leak: test_leaks_a_file left 1 resource open" in out
    assert (
        "x.txt" in out and f"created at test_it.py:{line_of(pytester, 'KEPT.append(open')}" in out
    )
    assert "tcp socket 127.0.0.1:" in out and "(LISTEN)" in out
    assert f"created at test_it.py:{line_of(pytester, 'server = socket.socket()')}" in out
    line = line_of(pytester, 'name="poller"')
    assert f"thread 'poller' (daemon, target Event.wait), created at test_it.py:{line}" in out


def test_no_resource_leaks_sqlalchemy_checkouts(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        import pytest
        from sqlalchemy import create_engine, text

        KEPT = []

        @pytest.mark.no_resource_leaks
        def test_checks_out_and_keeps(tmp_path):
            engine = create_engine(f"sqlite:///{tmp_path}/db.sqlite")
            conn = engine.connect()
            conn.execute(text("SELECT 1"))
            KEPT.append((engine, conn))

        @pytest.mark.no_resource_leaks
        def test_returns_it(tmp_path):
            engine = create_engine(f"sqlite:///{tmp_path}/db.sqlite")
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()

        def test_zzz_cleanup():
            for engine, conn in KEPT:
                conn.close()
                engine.dispose()
        """,
    )
    res.assert_outcomes(passed=2, failed=1)
    out = res.stdout.str()
    line = line_of(pytester, "conn = engine.connect()")
    assert "SQLAlchemy connection checked out and never returned (Pool size: 5" in out
    assert f"checked out at test_it.py:{line}" in out


def test_no_resource_leaks_postgres_and_redis(
    pytester: pytest.Pytester,
    postgres: Postgres,
    redis_server: Redis,
) -> None:
    pytester.makeini(
        f"[pytest]\nmemhound_postgres_dsn = {postgres.dsn}\n"
        f"memhound_redis_url = {redis_server.url}\n"
    )
    res = run(
        pytester,
        f"""
        import psycopg, redis
        import pytest

        DSN = {postgres.dsn!r}
        KEPT = []

        @pytest.mark.no_resource_leaks
        def test_leaks_a_transaction():
            conn = psycopg.connect(DSN)
            conn.execute("SELECT 42")
            KEPT.append(conn)

        @pytest.mark.no_resource_leaks
        def test_closes_its_connection():
            with psycopg.connect(DSN) as conn:
                conn.execute("SELECT 1")

        @pytest.mark.no_resource_leaks
        def test_leaks_a_redis_client():
            client = redis.Redis(port={redis_server.port}, client_name="leaky-client")
            client.ping()
            KEPT.append(client)

        @pytest.mark.no_resource_leaks
        def test_closes_redis():
            client = redis.Redis(port={redis_server.port})
            client.ping()
            client.close()

        def test_zzz_cleanup():
            for obj in KEPT:
                obj.close()
    """,
    )
    res.assert_outcomes(passed=3, failed=2)
    out = res.stdout.str()
    assert "PostgreSQL backend" in out and "idle in transaction" in out
    assert "last query: SELECT 42" in out
    assert (
        f"held by psycopg.Connection, created at test_it.py:{line_of(pytester, 'conn = psycopg')}"
        in out
    )
    assert "Redis client id=" in out and "name='leaky-client'" in out
    assert "postgres@" not in out or "***" in out  # no credentials leak into messages


def test_memhound_summary(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        def test_big():
            data = bytearray(80 << 20)
            for i in range(0, len(data), 4096):
                data[i] = 1

        def test_small():
            pass
    """,
        "--memhound",
    )
    res.assert_outcomes(passed=2)
    out = res.stdout.str()
    assert "memhound: heaviest tests (peak RSS during the call)" in out
    lines = [line for line in out.splitlines() if "test_it.py::" in line]
    assert "test_big" in lines[0]
    grew = float(lines[0].split()[0].lstrip("+"))
    assert lines[0].split()[1] == "MiB" and 75 <= grew <= 90, lines[0]


def test_bad_marker_arguments(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        import pytest

        @pytest.mark.memhound_limit_memory("lots")
        def test_a():
            pass

        @pytest.mark.no_leaks(iterations=2)
        def test_b():
            pass
    """,
    )
    out = res.stdout.str()
    assert "memhound_limit_memory: not a size: 'lots'" in out
    assert "no_leaks: needs iterations >= 5" in out


def test_a_check_that_cannot_judge_says_so(pytester: pytest.Pytester) -> None:
    """An async test would pass its marker unchecked: it fails, saying why; a test that
    raises is reported with its own error, and a note that the check gave no verdict."""
    import sys

    res = run(
        pytester,
        """
        import pytest

        @pytest.mark.no_leaks(iterations=5, warmup=0)
        async def test_async():
            pass

        @pytest.mark.no_resource_leaks
        async def test_async_resources():
            pass

        calls = []

        @pytest.mark.no_leaks(iterations=10, warmup=2)
        def test_raises_midway():
            calls.append(1)
            assert len(calls) < 4, "broke on the 4th call"

        @pytest.mark.no_resource_leaks
        def test_raises_at_once():
            raise ValueError("no database")
    """,
    )
    res.assert_outcomes(failed=4)
    out = res.stdout.str()
    assert "memhound cannot check an async test (no_leaks)" in out
    assert "memhound cannot check an async test (no_resource_leaks)" in out
    assert "broke on the 4th call" in out and "ValueError: no database" in out
    if sys.version_info >= (3, 11):  # exception notes
        assert "no_leaks could not judge: the test raised in iteration 4 of 2 warm-up" in out
        assert "no_resource_leaks could not judge: the test raised before it ended" in out


def no_leaks_report(pytester: pytest.Pytester) -> dict[str, tuple[int, str]]:
    """What the no_leaks checks reported per test (their ``user_properties``, as JUnit XML
    carries them): iterations measured and how the check ended."""
    import xml.etree.ElementTree as ET

    from memhound.pytest_plugin import checks, plugin

    # the plugin reads these names without importing the checks: both must agree
    assert (plugin._ITERATIONS, plugin._VERDICT) == (
        checks.PROPERTY_ITERATIONS,
        checks.PROPERTY_VERDICT,
    )
    out: dict[str, tuple[int, str]] = {}
    for case in ET.parse(pytester.path / "junit.xml").iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if checks.PROPERTY_ITERATIONS in props:
            iterations = int(props[checks.PROPERTY_ITERATIONS] or "")
            out[case.get("name") or ""] = (iterations, props[checks.PROPERTY_VERDICT] or "")
    return out


def test_no_leaks_stops_early_when_flat_and_lets_caches_fill(pytester: pytest.Pytester) -> None:
    """Defaults only. A clean test ends after the minimum of flat iterations; a memo that
    fills and stops, and a class made on every call (whose attribute names fill CPython's
    method cache, as inspect.signature's NodeTransformer did in toolz's suite) pass; a steady
    ~100 B a call is still a leak, found at the cap."""
    res = run(
        pytester,
        """
        import pytest

        KEEP = []
        MEMO = {}
        CALLS = [0]
        NAMES = [f"name_{i}" for i in range(60)]

        @pytest.mark.no_leaks
        def test_clean():
            data = [str(i) for i in range(1000)]
            assert len(data) == 1000

        @pytest.mark.no_leaks
        def test_memo_fills_then_stops():
            CALLS[0] += 1
            key = CALLS[0] % 40  # 40 distinct keys, then every call is a hit
            if key not in MEMO:
                MEMO[key] = bytes(1024)

        @pytest.mark.no_leaks
        def test_class_per_call():
            class Visitor:
                pass

            visitor = Visitor()
            for name in NAMES:
                getattr(visitor, "visit_" + name, None)

        @pytest.mark.no_leaks
        def test_steady_small_leak():
            KEEP.append(bytes(67))  # a 100 B bytes object, and a slot of the list
        """,
        "--junitxml=junit.xml",
    )
    res.assert_outcomes(passed=3, failed=1)
    out = res.stdout.str()
    report = no_leaks_report(pytester)
    assert report["test_clean"] == (5, "plateau")
    iterations, verdict = report["test_memo_fills_then_stops"]
    assert verdict == "plateau" and 40 <= iterations <= 80, report
    iterations, verdict = report["test_class_per_call"]
    assert verdict == "plateau" and iterations <= 10, report
    assert report["test_steady_small_leak"] == (100, "leak")
    assert "memory leak: test_steady_small_leak retained 108 B more per iteration" in out
    assert "over 100 iterations after 1 warm-up, still growing in the second half" in out
    assert f"at test_it.py:{line_of(pytester, 'KEEP.append(')}" in out
    assert "4 tests checked in " in out and "3 flat, 0 without steady growth" in out


def test_no_leaks_all_option(pytester: pytest.Pytester) -> None:
    """--memhound-no-leaks-all checks unmarked tests with the defaults, keeps a test's own
    marker, leaves full tracebacks to a check inside it that names lines, and counts async
    tests as unchecked instead of failing them."""
    res = run(
        pytester,
        """
        import tempfile
        import pytest

        KEEP = []

        def test_clean():
            assert sum(range(100)) == 4950

        def test_leaky():
            KEEP.append(object())

        @pytest.mark.no_leaks(iterations=20, warmup=0)
        def test_own_marker():
            KEEP.append(object())

        @pytest.mark.no_resource_leaks
        def test_leaks_a_file():
            KEEP.append(tempfile.TemporaryFile())

        async def test_async():
            pass
        """,
        "--memhound-no-leaks-all",
        "--junitxml=junit.xml",
    )
    out = res.stdout.str()
    assert "memory leak: test_leaky retained" in out
    assert "memory leak: test_own_marker retained" in out and "over 20 iterations after 0" in out
    line = line_of(pytester, "KEEP.append(tempfile.TemporaryFile())")
    assert f"created at test_it.py:{line} (in " in out
    report = no_leaks_report(pytester)
    assert report["test_clean"] == (5, "plateau")
    assert report["test_leaky"] == (100, "leak")
    assert report["test_own_marker"] == (20, "leak")
    assert "test_async" not in report
    assert "3 tests checked in 125 iterations (median 20): 1 flat" in out
    assert "1 async tests not checked" in out


def test_no_leaks_leaves_the_programs_frozen_objects_frozen(pytester: pytest.Pytester) -> None:
    """no_leaks moves the heap out of the collector's way (gc.freeze) while it measures, and
    back after; not when the program froze objects itself: unfreezing would thaw those too."""
    res = run(
        pytester,
        """
        import gc
        import pytest

        gc.freeze()  # as a pre-fork server does; after pytest loaded the plugin
        FROZEN = gc.get_freeze_count()

        @pytest.mark.no_leaks
        def test_clean():
            assert sum(range(10)) == 45

        def test_zzz_still_frozen():
            assert FROZEN > 0 and gc.get_freeze_count() > FROZEN // 2  # frees lower it
        """,
    )
    res.assert_outcomes(passed=2)
