"""Leaks that reach a limit (issue 21): a process that runs out of descriptors is a leak
with its limit named, never "no leak" and never a crash of memhound; the controls (a fixed
set of sockets, a bounded pool reused) are not leaks. Real processes under a real
``RLIMIT_NOFILE``, set in the child before it starts."""

from __future__ import annotations

import json
import os
import resource
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import mh, script
from tests.servers import Postgres, free_port

LIMIT = 256

# One socket per request, kept: the app runs out of descriptors after ~230 requests.
SOCKAPP = """
    import socket

    KEEP = []


    def app(environ, start_response):
        s = socket.socket()
        KEEP.append(s)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
"""


def low_nofile(limit: int = LIMIT) -> Callable[[], None]:
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return set_limit


# A plain wsgiref server (one request at a time, a connection per request) that sets its
# own RLIMIT_NOFILE, serving: /leak a socket opened per request and kept; /pool a pool of
# 5 sockets, one taken per request and given back; /fixed 12 sockets opened at the first
# request and kept (keep-alive connections to a backend). Out of descriptors it answers 500,
# or with ?wait hangs (as a pool that waits for a connection).
SERVER = """
    import resource
    import socket
    import sys
    import time
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    port, limit = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    KEEP, POOL, FIXED = [], [], []


    def work(path):
        if path == "/leak":
            KEEP.append(socket.socket())
        elif path == "/pool":
            s = POOL.pop() if len(POOL) >= 5 else socket.socket()
            POOL.insert(0, s)
        elif path == "/fixed" and not FIXED:
            FIXED.extend(socket.socket() for _ in range(12))


    def app(environ, start_response):
        try:
            work(environ["PATH_INFO"])
        except OSError as exc:  # as a framework does: a 500, and the server goes on
            if environ["QUERY_STRING"] == "wait":  # as a pool that waits for a free one
                time.sleep(120)
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [str(exc).encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass


    make_server("127.0.0.1", port, app, handler_class=Quiet).serve_forever()
"""


@contextmanager
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """The server above under a limit of 256 fds, started without memhound: (pid, port)."""
    path = script(tmp_path, "server.py", SERVER)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, path, str(port), str(LIMIT)], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait()


def soak(*args: str, fail_on_leak: bool = False) -> tuple[int, dict]:  # type: ignore[type-arg]
    flags = ["--fail-on-leak"] if fail_on_leak else []
    res = mh("soak", "--json", "--no-snapshots", *flags, *args, timeout=400)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)


def assert_saturated(doc: dict, pid: int | None = None) -> None:  # type: ignore[type-arg]
    assert doc["leak"] is True and doc["inconclusive"] is None, doc
    sat = doc["saturated"]
    assert sat["resource"] == "fds" and sat["limit"] == LIMIT
    assert sat["limit_source"].startswith("RLIMIT_NOFILE of pid")
    if pid is not None:
        assert f"RLIMIT_NOFILE of pid {pid}" in sat["limit_source"]
    assert 0.9 <= sat["per_request_before"] <= 1.1  # one socket per request
    # the server's first 230-250 requests find a descriptor (its own few are taken first)
    assert 200 <= sat["reached_at_requests"] <= 260 and sat["reached_at_s"] > 0
    assert sat["failed_after"] >= 0.9 * (doc["requests"] - sat["reached_at_requests"])
    assert doc["errors"] - sat["failed_after"] <= 0.05 * doc["requests"]
    assert doc["limits"]["fds"]["value"] == LIMIT
    assert doc["resources"]["fds"]["leak"] is True
    assert list(doc)[:3] == ["target", "leak", "saturated"]  # the verdict first


def test_a_server_leaking_a_socket_per_request_reaches_its_limit_by_pid(tmp_path: Path) -> None:
    with server(tmp_path) as (pid, port):
        code, doc = soak(
            "--url", f"http://127.0.0.1:{port}/", "--path", "/leak", "--pid", str(pid),
            "-n", "600", "-o", str(tmp_path / "r"), fail_on_leak=True,
        )  # fmt: skip
        # soaked again, already full: nothing to judge, and the note says why
        _, again = soak(
            "--url", f"http://127.0.0.1:{port}/", "--path", "/leak", "--pid", str(pid),
            "-n", "100", "-o", str(tmp_path / "r2"),
        )  # fmt: skip
    assert_saturated(doc, pid)
    assert code == 1
    assert again["leak"] is None and again["saturated"] is None
    assert any(
        "before the load began, at their limit of 256" in n and "already run out" in n
        for n in again["errors_watching"]
    ), again


def test_a_served_server_leaking_a_socket_per_request_reaches_its_limit(tmp_path: Path) -> None:
    path = script(tmp_path, "server.py", SERVER)
    port = free_port()
    code, doc = soak(
        "--url", f"http://127.0.0.1:{port}/", "--path", "/leak",
        "--serve", shlex.join([sys.executable, path, str(port), str(LIMIT)]),
        "-n", "600", "-o", str(tmp_path / "r"), fail_on_leak=True,
    )  # fmt: skip
    assert_saturated(doc)
    assert code == 1
    text = mh("report", str(tmp_path / "r"), timeout=60).stdout
    assert text.splitlines()[1].startswith("  verdict: LEAK: fds reached the limit of 256 (")
    page = (tmp_path / "r" / "report.html").read_text()
    assert 'class="leak">LEAK: fds reached the limit of 256 (RLIMIT_NOFILE of pid' in page


def test_a_server_that_stops_answering_at_its_limit_ends_the_load_with_the_verdict(
    tmp_path: Path,
) -> None:
    with server(tmp_path) as (pid, port):
        code, doc = soak(
            "--url", f"http://127.0.0.1:{port}/", "--path", "/leak?wait", "--pid", str(pid),
            "--timeout", "0.5s", "-n", "2000", "-o", str(tmp_path / "r"), fail_on_leak=True,
        )  # fmt: skip
    assert "10 requests in a row got no answer" in doc["target_gone"]
    assert doc["requests"] < 300  # the load ended there, not after 2,000 requests
    assert_saturated(doc, pid)
    assert code == 1


@pytest.mark.parametrize("path", ["/pool", "/fixed"])
def test_a_bounded_pool_or_a_fixed_set_of_sockets_is_no_leak(tmp_path: Path, path: str) -> None:
    with server(tmp_path) as (pid, port):
        code, doc = soak(
            "--url", f"http://127.0.0.1:{port}/", "--path", path, "--pid", str(pid),
            "-n", "600", "-o", str(tmp_path / "r"), fail_on_leak=True,
        )  # fmt: skip
    assert doc["leak"] is False and doc["saturated"] is None, doc
    assert doc["errors"] == 0 and code == 0
    assert doc["limits"]["fds"]["value"] == LIMIT


def test_in_process_soak_survives_the_app_taking_every_descriptor(tmp_path: Path) -> None:
    script(tmp_path, "sockapp.py", SOCKAPP)
    run = tmp_path / "r"
    res = mh(
        "soak", "--wsgi", "sockapp:app", "-n", "600", "--json", "-o", str(run),
        cwd=tmp_path, timeout=300, preexec_fn=low_nofile(),
    )  # fmt: skip
    assert "Too many open files" not in res.stderr, res.stderr
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["requests"] == 600
    saved = json.loads((run / "soak.json").read_text())
    assert saved["requests"] == 600 and saved["leak"] == doc["leak"]
    assert json.loads((run / "run.json").read_text())["meta"]["status"] == "complete"
    assert (run / "report.html").stat().st_size > 0


def test_in_process_app_reaching_its_limit_is_a_leak_with_the_limit_named(tmp_path: Path) -> None:
    script(tmp_path, "sockapp.py", SOCKAPP)
    res = mh(
        "soak", "--wsgi", "sockapp:app", "-n", "600", "--json", "--fail-on-leak",
        "-o", str(tmp_path / "r"), cwd=tmp_path, timeout=300, preexec_fn=low_nofile(),
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert_saturated(doc)
    assert "memhound keeps 16 of them for itself" in doc["saturated"]["limit_source"]
    assert doc["limits"]["fds"]["reserved"] == 16
    # where the sockets come from, though every later request failed
    assert any(x["created_at"].endswith("sockapp.py:8") for x in doc["left_open"]), doc


POOLAPP = """
    import socket

    POOL = []


    def app(environ, start_response):
        s = POOL.pop() if len(POOL) >= 5 else socket.socket()
        POOL.insert(0, s)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
"""


def test_in_process_bounded_pool_is_no_leak(tmp_path: Path) -> None:
    script(tmp_path, "poolapp.py", POOLAPP)
    res = mh(
        "soak", "--wsgi", "poolapp:app", "-n", "600", "--json", "--fail-on-leak",
        "-o", str(tmp_path / "r"), cwd=tmp_path, timeout=300, preexec_fn=low_nofile(),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["leak"] is False and doc["saturated"] is None, doc
    assert doc["resources"]["fds"]["warmup_rise"] == 0


def test_a_limit_reached_within_the_warmup_is_still_found(tmp_path: Path) -> None:
    # 3,000 requests: the warm-up (300) ends after the limit was reached at ~230; after it
    # the count is flat, which the trend alone reads as "no leak" (issue 21)
    script(tmp_path, "sockapp.py", SOCKAPP)
    res = mh(
        "soak", "--wsgi", "sockapp:app", "-n", "3000", "--json", "--no-snapshots",
        "-o", str(tmp_path / "r"), cwd=tmp_path, timeout=300, preexec_fn=low_nofile(),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert_saturated(doc)
    assert doc["saturated"]["reached_at_requests"] < doc["warmup_requests"] == 300
    assert doc["resources"]["fds"]["warmup_rise"] >= 200


# Sockets opened for the first 80 requests only (the warm-up is 100), and kept: no limit
# is reached (the default one), the count is flat after the warm-up, and it never comes back.
EARLYAPP = """
    import socket

    KEEP = []


    def app(environ, start_response):
        if len(KEEP) < 80:
            KEEP.append(socket.socket())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
"""


def test_growth_in_the_warmup_that_never_comes_back_is_a_finding(tmp_path: Path) -> None:
    script(tmp_path, "earlyapp.py", EARLYAPP)
    res = mh(
        "soak", "--wsgi", "earlyapp:app", "-n", "1000", "--json", "--no-snapshots",
        "-o", str(tmp_path / "r"), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["leak"] is True and doc["saturated"] is None, doc
    fds = doc["resources"]["fds"]
    assert fds["leak"] is True and fds["warmup_rise"] == 80
    assert fds["per_request"] == 0.0  # flat after the warm-up: the trend alone saw nothing
    text = mh("report", str(tmp_path / "r"), timeout=60).stdout
    assert "GROWING in the warm-up: +80 over its level before the load" in text


# The pytest marker: a test that leaks sockets until the process's limit (256, set by the
# test module itself in the pytest subprocess).
PYTEST_LIMIT = """
    import resource
    import socket

    import pytest

    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    KEEP = []


    def connect():
        s = socket.socket()
        KEEP.append(s)


    @pytest.fixture(autouse=True)
    def close_them():
        yield
        for s in KEEP:
            s.close()
        KEEP.clear()


    @pytest.mark.no_resource_leaks
    def test_until_the_limit():
        for _ in range(1000):
            connect()


    @pytest.mark.no_resource_leaks
    def test_until_the_limit_errors_swallowed():
        for _ in range(1000):
            try:
                connect()
            except OSError:
                pass


    @pytest.mark.no_resource_leaks
    def test_a_pool_reused():
        pool = [socket.socket() for _ in range(5)]
        for i in range(1000):
            pool[i % 5].fileno()
        for s in pool:
            s.close()
"""


def test_no_resource_leaks_names_the_limit_and_the_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it=textwrap.dedent(PYTEST_LIMIT))
    # -rN: no short summary, whose lines CI (CI=true) prints in full, repeating the message
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rN")
    res.assert_outcomes(passed=1, failed=2)
    out = res.stdout.str()
    assert "Too many open files" in out  # the first test's own error, named as the cause
    for name in ("test_until_the_limit", "test_until_the_limit_errors_swallowed"):
        assert f"resource leak: {name} used up the process's open files: " in out
    assert out.count("at the limit of 256 (RLIMIT_NOFILE of pid ") == 2
    assert "the test then failed with OSError: [Errno 24] Too many open files" in out
    assert "the test passed all the same" in out
    lines = (pytester.path / "test_it.py").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "s = socket.socket()" in text)
    # grouped: one line for the ~230 sockets, with the line that created them
    assert "  229 x socket\n      held by socket.socket" in out or " x socket\n" in out, out
    assert f"held by socket.socket, created at test_it.py:{line}" in out
    assert "could not judge" not in out


# A thread per request, left waiting, in a cgroup whose pids.max is 64 (RLIMIT_NPROC does not
# apply to root, which CI runs as; a cgroup's task limit applies to everyone). /pool: a
# pool of 4 threads reused.
THREAD_SERVER = """
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    STOP = threading.Event()
    POOL = ThreadPoolExecutor(4)


    def app(environ, start_response):
        try:
            if environ["PATH_INFO"] == "/pool":
                POOL.submit(sum, range(100)).result()
            else:
                threading.Thread(target=STOP.wait, daemon=True).start()
        except RuntimeError as exc:  # "can't start new thread"
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [str(exc).encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass


    make_server("127.0.0.1", int(sys.argv[1]), app, handler_class=Quiet).serve_forever()
"""
PIDS_ROOT = Path("/sys/fs/cgroup/pids")


@pytest.fixture()
def pids_cgroup() -> Iterator[Path]:
    """A cgroup v1 ``pids`` child with ``pids.max`` 64, removed afterwards."""
    path = PIDS_ROOT / f"memhound-test-{os.getpid()}"
    try:
        path.mkdir()
        (path / "pids.max").write_text("64\n")
    except OSError as exc:
        pytest.skip(f"cannot make a pids cgroup with a limit here (cgroup v1, root): {exc}")
    try:
        yield path
    finally:
        for _ in range(50):  # its last task may take a moment to leave
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)


@pytest.mark.parametrize(("path", "leaks"), [("/thread", True), ("/pool", False)])
def test_threads_reaching_the_cgroup_pids_max(
    tmp_path: Path, pids_cgroup: Path, path: str, leaks: bool
) -> None:
    code_path = script(tmp_path, "tserver.py", THREAD_SERVER)
    port = free_port()
    procs = str(pids_cgroup / "cgroup.procs")

    def join_cgroup() -> None:
        with open(procs, "w") as fh:
            fh.write(str(os.getpid()))

    proc = subprocess.Popen(
        [sys.executable, code_path, str(port)], preexec_fn=join_cgroup, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        code, doc = soak(
            "--url", f"http://127.0.0.1:{port}/", "--path", path, "--pid", str(proc.pid),
            "-n", "300", "-o", str(tmp_path / "r"), fail_on_leak=True,
        )  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    limit = doc["limits"]["threads"]
    assert limit["value"] == 64 and limit["source"].startswith("pids.max of cgroup /memhound-test")
    if not leaks:
        assert doc["leak"] is False and doc["saturated"] is None and code == 0, doc
        return
    assert code == 1 and doc["leak"] is True, doc
    sat = doc["saturated"]
    assert sat["resource"] == "threads" and sat["limit"] == 64
    assert 50 <= sat["reached_at_requests"] <= 70 and 0.9 <= sat["per_request_before"] <= 1.1
    assert sat["failed_after"] >= 0.9 * (doc["requests"] - sat["reached_at_requests"])


# A connection per request to a database, kept (in-process, --wsgi): PostgreSQL as an
# ordinary role (the superuser's reserved slots stay for memhound's watcher), Redis with a
# PING that must be answered.
DBAPP = """
    import os
    import socket

    import psycopg

    KEEP = []


    def app(environ, start_response):
        if environ["PATH_INFO"] == "/pg":
            KEEP.append(psycopg.connect(os.environ["APP_DSN"], autocommit=True))
        else:
            s = socket.create_connection(("127.0.0.1", int(os.environ["APP_REDIS_PORT"])))
            KEEP.append(s)
            s.sendall(b"PING\\r\\n")
            answer = s.recv(200)
            if not answer.startswith(b"+PONG"):
                raise ConnectionError(answer.decode().strip())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
"""


def test_postgres_max_connections_reached(tmp_path: Path) -> None:
    import psycopg

    from tests.servers import start_postgres

    for pg in start_postgres(max_connections=20):
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute("CREATE ROLE app LOGIN")
            # the sessions of the server's start-up, if any, gone: all 17 are the app's
            for _ in range(100):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                    "'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
                if row is not None and row[0] == 0:
                    break
                time.sleep(0.05)
        script(tmp_path, "dbapp.py", DBAPP)
        app_dsn = pg.dsn.replace("postgres@", "app@", 1)
        res = mh(
            "soak", "--wsgi", "dbapp:app", "--path", "/pg", "--postgres", pg.dsn,
            "-n", "200", "--json", "--no-snapshots", "--fail-on-leak", "-o", str(tmp_path / "r"),
            cwd=tmp_path, timeout=300, env={**os.environ, "APP_DSN": app_dsn},
        )  # fmt: skip
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    sat = doc["saturated"]
    assert sat is not None and sat["resource"] == "postgres.backends", doc
    assert sat["limit"] == 17 and sat["level"] == 17  # 20 less 3 reserved for superusers
    assert sat["limit_source"].startswith("max_connections 20 of PostgreSQL at postgresql://")
    assert "less 3 reserved slots" in sat["limit_source"]
    assert sat["reached_at_requests"] == 17 and sat["per_request_before"] == 1.0
    assert sat["failed_after"] == doc["errors"] == 200 - 17
    assert doc["leak"] is True and doc["inconclusive"] is None


def test_redis_maxclients_reached(tmp_path: Path) -> None:
    from tests.servers import _start_redis

    for redis in _start_redis(None, maxclients=40):
        script(tmp_path, "dbapp.py", DBAPP)
        res = mh(
            "soak", "--wsgi", "dbapp:app", "--path", "/redis", "--redis", redis.url,
            "-n", "200", "--json", "--no-snapshots", "--fail-on-leak", "-o", str(tmp_path / "r"),
            cwd=tmp_path, timeout=300, env={**os.environ, "APP_REDIS_PORT": str(redis.port)},
        )  # fmt: skip
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    sat = doc["saturated"]
    assert sat is not None and sat["resource"] == "redis.clients", doc
    assert sat["limit"] == 40 and sat["limit_source"].startswith("maxclients 40 of Redis at")
    assert 36 <= sat["level"] <= 40 and 0.9 <= sat["per_request_before"] <= 1.1
    assert doc["leak"] is True and doc["inconclusive"] is None


# A SQLAlchemy pool of 5 (no overflow, 0.1 s to wait for a connection): /leak checks one out
# per request and never returns it; /ok returns it (the control).
POOLED = """
    import os

    from sqlalchemy import create_engine, text

    ENGINE = create_engine(os.environ["APP_DSN"], pool_size=5, max_overflow=0, pool_timeout=0.1)
    KEEP = []


    def app(environ, start_response):
        if environ["PATH_INFO"] == "/leak":
            conn = ENGINE.connect()
            conn.execute(text("SELECT 1"))
            KEEP.append(conn)
        else:
            with ENGINE.connect() as conn:
                conn.execute(text("SELECT 1"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
"""


@pytest.mark.parametrize(("path", "leaks"), [("/leak", True), ("/ok", False)])
def test_a_sqlalchemy_pool_that_runs_dry(
    tmp_path: Path, postgres: Postgres, path: str, leaks: bool
) -> None:
    script(tmp_path, "pooled.py", POOLED)
    dsn = postgres.dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    res = mh(
        "soak", "--wsgi", "pooled:app", "--path", path, "-n", "100", "--json",
        "--no-snapshots", "--fail-on-leak", "-o", str(tmp_path / "r"),
        cwd=tmp_path, timeout=300, env={**os.environ, "APP_DSN": dsn},
    )  # fmt: skip
    doc = json.loads(res.stdout)
    limit = doc["limits"]["sqlalchemy.checked_out"]
    assert limit["value"] == 5
    assert limit["source"] == "SQLAlchemy QueuePool size 5 + max_overflow 0"
    if not leaks:
        assert res.returncode == 0 and doc["leak"] is False and doc["saturated"] is None, doc
        return
    assert res.returncode == 1, res.stderr
    sat = doc["saturated"]
    assert sat is not None and sat["resource"] == "sqlalchemy.checked_out", doc
    assert sat["level"] == 5 and sat["reached_at_requests"] == 5
    assert sat["failed_after"] == doc["errors"] == 95


LIMITED = """
    import os
    import socket

    KEEP = []


    def app(environ, start_response):
        if len(os.listdir("/proc/self/fd")) >= 100:  # as a proxy in front allowing 100
            raise OSError("the proxy says no")
        KEEP.append(socket.socket())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
"""


def test_a_limit_given_with_the_limit_option(tmp_path: Path) -> None:
    script(tmp_path, "limited.py", LIMITED)
    res = mh(
        "soak", "--wsgi", "limited:app", "-n", "300", "--json", "--no-snapshots",
        "--limit", "fds=100", "-o", str(tmp_path / "r"), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    # in-process: memhound's 16 descriptors are in the same table as the app's
    given = {"resource": "fds", "value": 100, "source": "--limit", "reserved": 16}
    assert doc["limits"]["fds"] == given
    sat = doc["saturated"]
    assert sat["limit"] == 100 and sat["limit_source"].startswith("--limit; memhound keeps 16")
    bad = mh("soak", "--wsgi", "limited:app", "--limit", "sockets=3", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--limit takes fds=N, threads=N, postgres.backends=N, redis.clients=N, " in bad.stderr
