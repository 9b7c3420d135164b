"""Throwaway PostgreSQL and Redis servers on free loopback ports, for the resource tests.

Started from Debian's `postgresql` and `redis-server` packages (scripts/test.sh installs them);
a test that needs one is skipped when it is missing, unless MEMHOUND_REQUIRE_SERVERS=1 (CI),
where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(what: str) -> None:
    if os.environ.get("MEMHOUND_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{what} is required (MEMHOUND_REQUIRE_SERVERS=1)")
    pytest.skip(f"needs {what}")


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


@dataclass(frozen=True)
class Postgres:
    port: int
    dsn: str


def start_postgres(max_connections: int = 300) -> Iterator[Postgres]:
    """A PostgreSQL cluster of its own on a free port (trust auth, superuser ``postgres``)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not bins:
        _missing("PostgreSQL (apt-get install postgresql)")
    bindir = os.path.dirname(bins[-1])
    root = tempfile.mkdtemp(prefix="memhound-pg-")
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.makedirs(sock)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            *as_user,
            f"{bindir}/postgres",
            "-D",
            data,
            "-p",
            str(port),
            "-k",
            sock,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            f"max_connections={max_connections}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "postgres")
        time.sleep(0.3)
        yield Postgres(port, f"postgresql://postgres@127.0.0.1:{port}/postgres")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    # the leak tests keep one connection per request: stay below the cap
    yield from start_postgres(300)


@dataclass(frozen=True)
class Redis:
    port: int
    url: str
    password: str | None = None


def _start_redis(password: str | None, maxclients: int | None = None) -> Iterator[Redis]:
    exe = shutil.which("redis-server")
    if exe is None:
        _missing("Redis (apt-get install redis-server)")
        raise AssertionError  # unreachable: _missing skips or fails
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if password:
        args += ["--requirepass", password]
    if maxclients is not None:
        args += ["--maxclients", str(maxclients)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "redis-server")
        auth = f":{password}@" if password else ""
        yield Redis(port, f"redis://{auth}127.0.0.1:{port}/0", password)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    yield from _start_redis(None)


@pytest.fixture(scope="session")
def redis_with_auth() -> Iterator[Redis]:
    yield from _start_redis("s3cret-pw")
