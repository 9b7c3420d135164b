"""Small WSGI apps that leak the way real services do, and controls that must not be called
leaks. Each is a module attribute: ``memhound soak --wsgi examples.leaks.zoo:AUDIT_TRAIL``.

Started here (more to come with the rest of the soak work): a module-level list, a slow
leak hidden under big temporaries, a file opened per request; and the controls: a bounded
cache, a lazy initialisation, big temporaries, reference cycles.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from typing import Any

Start = Callable[..., Any]
Environ = dict[str, Any]


def _ok(start_response: Start, body: bytes = b"ok") -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


class Order:
    def __init__(self, path: str) -> None:
        self.path = path
        self.payload = bytes(1000)  # a new object each time (b"x" * 1000 is one constant)


_AUDIT: list[Order] = []


def AUDIT_TRAIL(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: every request's order is kept in a module-level list (~1.2 KiB each)."""
    _AUDIT.append(Order(environ["PATH_INFO"]))
    return _ok(start_response)


_SLOW: list[bytes] = []


def SLOW_LEAK(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: ~100 bytes per request, under 64 KiB of temporaries per request."""
    scratch = bytearray(64 * 1024)
    scratch[0] = 1
    _SLOW.append(f"{len(_SLOW):060d}".encode())  # a new 60-char object each time
    return _ok(start_response)


_FILES: list[Any] = []


def FILE_PER_REQUEST(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: a file opened per request and never closed."""
    _FILES.append(open(os.devnull))  # noqa: SIM115
    return _ok(start_response)


@functools.lru_cache(maxsize=100)
def _render(key: int) -> bytes:
    return str(key).encode() * 50


_COUNTER = [0]


def BOUNDED_CACHE(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Control: an LRU cache of 100 entries fills, then stays."""
    _COUNTER[0] += 1
    return _ok(start_response, _render(_COUNTER[0] % 300))


_LAZY: dict[str, Any] = {}


def LAZY_INIT(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Control: a big table built on the first request only."""
    if "table" not in _LAZY:
        _LAZY["table"] = [str(i) for i in range(50_000)]
    return _ok(start_response)


def BIG_TEMPORARIES(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Control: 1 MiB of temporaries per request, all freed."""
    rows = [bytes(1024) for _ in range(1024)]
    return _ok(start_response, str(len(rows)).encode())


def CYCLES(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Control: reference cycles per request, freed by the collector."""
    a: dict[str, Any] = {"data": bytearray(4096)}
    a["self"] = a
    return _ok(start_response)


def SHOP(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Two endpoints: /checkout leaks like AUDIT_TRAIL, /browse does not."""
    if environ["PATH_INFO"] == "/checkout":
        return AUDIT_TRAIL(environ, start_response)
    return BIG_TEMPORARIES(environ, start_response)


_CONNECTIONS: list[Any] = []


def DB_CONNECTION_PER_REQUEST(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: a PostgreSQL connection per request (DSN in ZOO_DSN), kept and never closed."""
    import psycopg

    _CONNECTIONS.append(psycopg.connect(os.environ["ZOO_DSN"]))
    return _ok(start_response)


def DB_CONNECTION_CLOSED(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Control: a PostgreSQL connection per request, closed."""
    import psycopg

    with psycopg.connect(os.environ["ZOO_DSN"]) as conn:
        conn.execute("SELECT 1")
    return _ok(start_response)


def REDIS_CLIENT_PER_REQUEST(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: a Redis client per request (port in ZOO_REDIS_PORT), kept connected."""
    import redis

    client = redis.Redis(port=int(os.environ["ZOO_REDIS_PORT"]))
    client.ping()
    _CONNECTIONS.append(client)
    return _ok(start_response)


def audit_step() -> None:
    """For --call: one unit of work that leaks an Order."""
    _AUDIT.append(Order("task"))
