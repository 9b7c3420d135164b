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
