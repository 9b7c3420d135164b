"""Resource watchers against real sockets, a real PostgreSQL and a real Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from memhound.watchers import fds as fdw
from memhound.watchers._dsn import mask_dsn
from memhound.watchers.postgres import WatcherError, backends
from memhound.watchers.redis import clients, mask_url
from tests.conftest import mh
from tests.servers import Postgres, Redis, free_port


def test_fds_by_kind_with_socket_addresses() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    r, w = os.pipe()
    try:
        fds = {f.fd: f for f in fdw.open_fds()}
        assert fds[server.fileno()].socket is not None
        assert fds[server.fileno()].socket.state == "LISTEN"  # type: ignore[union-attr]
        c = fds[client.fileno()].socket
        assert c is not None and c.state == "ESTABLISHED"
        assert c.remote_port == server.getsockname()[1]
        assert fds[r].kind == "pipe" and fds[w].kind == "pipe"
        assert fdw.count_by_kind(list(fds.values()))["socket"] >= 2
        assert "tcp socket 127.0.0.1:" in fds[client.fileno()].describe()
    finally:
        client.close()
        server.close()
        os.close(r)
        os.close(w)


def test_fds_of_a_missing_process() -> None:
    from memhound.errors import ProcessNotFound

    with pytest.raises(ProcessNotFound):
        fdw.open_fds(999_999_999)


#: holds N idle loopback connections, both ends, in one process (its fd limit raised)
_FOREIGN_CONNECTIONS = """
import resource, socket, struct, sys
n = int(sys.argv[1])
reset = struct.pack("ii", 1, 0)  # closed with a reset at exit: no TIME_WAIT left behind
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 2 * n + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * n + 64), hard))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(n)
held = []
for _ in range(n):
    held.append(socket.create_connection(listener.getsockname()))
    held[-1].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
    held.append(listener.accept()[0])
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def foreign_connections() -> Iterator[int]:
    """1,500 idle connections on loopback (3,000 sockets) that belong to another process."""
    n = 1500
    with subprocess.Popen(
        [sys.executable, "-c", _FOREIGN_CONNECTIONS, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            yield 2 * n
        finally:
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@pytest.fixture
def formatted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The socket addresses the watcher formats (each one parsed from a /proc/net line)."""
    seen: list[str] = []
    real = fdw._hex_addr

    def counting(text: str, v6: bool) -> str:
        seen.append(text)
        return real(text, v6)

    monkeypatch.setattr(fdw, "_hex_addr", counting)
    return seen


def _connected() -> tuple[socket.socket, socket.socket, socket.socket]:
    """A listener on loopback, a client connected to it, and the accepted end."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    return server, client, peer


def test_a_sample_formats_the_targets_sockets_not_the_namespaces(
    foreign_connections: int, formatted: list[str]
) -> None:
    """Issue #13: every socket of the namespace was parsed and its addresses formatted at
    every sample (0.14 s a sample with 3,100 other sockets). Count the addresses formatted
    while another process holds 3,000 sockets and this one holds 3."""
    server, client, peer = _connected()
    try:
        fds = {f.fd: f for f in fdw.open_fds()}
        assert fds[client.fileno()].socket is not None
        assert fds[client.fileno()].socket.state == "ESTABLISHED"  # type: ignore[union-attr]
        # local and remote of this process's own 3 TCP sockets, none of the 3,000 others
        assert len(formatted) <= 2 * 3, f"{len(formatted)} addresses formatted"
    finally:
        for s in (peer, client, server):
            s.close()


def test_samples_of_an_unchanged_socket_set_read_no_table_and_follow_tcp_states(
    foreign_connections: int, formatted: list[str]
) -> None:
    """A watcher's later samples format nothing while the process's sockets stay the same,
    and still see a connection its peer closed move to CLOSE_WAIT."""
    from memhound.watchers.tree import ResourceSampler

    server, client, peer = _connected()
    try:
        sampler = ResourceSampler()
        first = sampler.sample(0.0, [os.getpid()])
        assert first.totals["sockets.ESTABLISHED"] >= 2
        assert 0 < len(formatted) <= 2 * 3
        formatted.clear()
        assert sampler.sample(1.0, [os.getpid()]).totals == first.totals
        assert formatted == []
        peer.close()
        deadline = time.monotonic() + 5
        while True:
            totals = sampler.sample(2.0, [os.getpid()]).totals
            if totals.get("sockets.CLOSE_WAIT") == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert totals.get("sockets.CLOSE_WAIT") == 1, totals
        assert formatted == []  # the new state came from the kernel by the socket's 4-tuple
    finally:
        for s in (peer, client, server):
            s.close()


def test_postgres_backends_from_another_process(postgres: Postgres) -> None:
    code = (
        "import psycopg, sys, time\n"
        "conns = [psycopg.connect(sys.argv[1], application_name='leaky-worker')\n"
        "         for _ in range(3)]\n"
        "conns[0].execute('SELECT 1')\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, postgres.dsn],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        rows = [b for b in backends(postgres.dsn) if b.application_name == "leaky-worker"]
        assert len(rows) == 3
        assert sum(b.idle_in_transaction for b in rows) == 1
        assert all(b.client_addr == "127.0.0.1" and b.client_port for b in rows)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
        child.stdout.close()  # type: ignore[union-attr]
    # The backends end just after their client: wait for them (bounded) before saying so.
    deadline = time.monotonic() + 10
    while [b for b in backends(postgres.dsn) if b.application_name == "leaky-worker"]:
        assert time.monotonic() < deadline, "the worker's backends outlived it by 10 s"
        time.sleep(0.1)


def test_postgres_bad_dsn_is_a_clear_error_without_the_password(postgres: Postgres) -> None:
    with pytest.raises(WatcherError) as err:
        backends(f"postgresql://postgres:hunter2@127.0.0.1:{postgres.port}/no_such_db", timeout_s=3)
    assert "hunter2" not in str(err.value) and "***" in str(err.value)
    assert "no_such_db" in str(err.value)
    assert mask_dsn("host=x password=hunter2 user=y") == "host=x password=*** user=y"


def test_postgres_rows_of_other_users_are_hidden(postgres: Postgres) -> None:
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS watcher_lowpriv")
        admin.execute("CREATE ROLE watcher_lowpriv LOGIN")
    held = psycopg.connect(postgres.dsn, application_name="someone-else")
    try:
        low = f"postgresql://watcher_lowpriv@127.0.0.1:{postgres.port}/postgres"
        rows = [b for b in backends(low) if b.application_name == "someone-else"]
        assert rows and rows[0].details_hidden and rows[0].state == ""
        assert rows[0].client_port is None  # visible, but its details are not ours to see
    finally:
        held.close()


def test_redis_clients_and_auth(redis_server: Redis, redis_with_auth: Redis) -> None:
    import redis

    client = redis.Redis(port=redis_server.port, client_name="watch-me")
    client.ping()
    try:
        names = [c.name for c in clients(redis_server.url)]
        assert "watch-me" in names
    finally:
        client.close()
    assert "watch-me" not in [c.name for c in clients(redis_server.url)]
    with pytest.raises(WatcherError, match=r"NOAUTH|Authentication"):
        clients(f"redis://127.0.0.1:{redis_with_auth.port}/0")
    assert clients(redis_with_auth.url) == []
    assert "s3cret-pw" not in mask_url(redis_with_auth.url)


def test_redis_unreachable() -> None:

    with pytest.raises(WatcherError, match=r"Redis at redis://127\.0\.0\.1"):
        clients(f"redis://127.0.0.1:{free_port()}/0", timeout_s=1)


def test_no_credential_is_printed_or_saved_by_a_run(tmp_path: Path) -> None:
    # the query's ?password= was printed and stored in run.json, timeline.jsonl and
    # report.html; nothing listens on the port, so each watcher reports its error too
    port = free_port()
    res = mh(
        "run",
        "-o",
        str(tmp_path / "r"),
        "--redis",
        f"redis://default:UserInfoSecret@127.0.0.1:{port}/0?password=QuerySecret",
        "--postgres",
        f"host=127.0.0.1 port={port} user=app password='Keyword Secret' sslpassword=TlsSecret",
        "--",
        sys.executable,
        "-c",
        "import time; time.sleep(0.3)",
    )
    assert res.returncode == 0, res.stderr
    assert "Redis at redis://default:***@127.0.0.1" in res.stderr
    seen = res.stdout + res.stderr
    for f in (tmp_path / "r").iterdir():
        seen += f.read_text(errors="replace")
    for secret in ("UserInfoSecret", "QuerySecret", "Keyword Secret", "TlsSecret"):
        assert secret not in seen
