"""Small WSGI apps that leak the way real services do, and controls that must not be called
leaks. Each is a module attribute: ``memhound soak --wsgi examples.leaks.zoo:AUDIT_TRAIL``.

Leaks: a module-level list, a slow leak hidden under big temporaries, a file, a socket, a
timer or a thread per request, a closure on a global listener list, ``lru_cache`` on a
method, an unbounded cache, a logger per request, stored exceptions (database and Redis
connections need a server). Controls: a bounded cache, a lazy initialisation, big
temporaries, reference cycles, a gc sawtooth, and the trivial app. The sizes in the
docstrings are the traced Python heap per request on CPython 3.11
(``bench/soak_accuracy.py`` measures them).

Every app only grows while it is driven, talks to 127.0.0.1 at most, and lets the process
exit: its threads are daemons, its sockets are closed by the exit.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import socket
import threading
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


def HELLO(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Control: the trivial app, retaining nothing (and the driver's throughput baseline)."""
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


class Request:
    """What a handler knows about its request: the path and the parsed body."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.body = bytes(300)


_LISTENERS: list[Callable[[str], None]] = []


def LISTENERS(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: a closure registered on a module-level listener list per request, never
    removed; it keeps its request (and the request's 300-byte body) alive: ~0.6 KiB each."""
    request = Request(environ["PATH_INFO"])

    def on_shutdown(reason: str) -> None:
        print(f"{request.path}: interrupted by {reason}")

    _LISTENERS.append(on_shutdown)
    return _ok(start_response)


_TIMERS: list[threading.Timer] = []


def _expire(path: str) -> None:
    print(f"{path}: session expired")


def TIMER_PER_REQUEST(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: a session-expiry ``threading.Timer`` (one hour) started per request and never
    cancelled: one thread more per request (and ~4.2 KiB of heap), until the hour is up."""
    timer = threading.Timer(3600.0, _expire, args=(environ["PATH_INFO"],))
    timer.daemon = True
    timer.start()
    _TIMERS.append(timer)  # kept "to cancel it on logout", which never comes
    return _ok(start_response)


def THREAD_PER_REQUEST(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: a watcher thread per request, blocked for ever on an Event nobody sets (nothing
    in the app keeps the thread: the interpreter's own thread table does). One thread more
    per request, ~4 KiB of heap."""
    cancelled = threading.Event()
    threading.Thread(target=cancelled.wait, name="watch-cancel", daemon=True).start()
    return _ok(start_response)


_BACKEND: list[socket.socket] = []
_BACKEND_LOCK = threading.Lock()
_UPSTREAMS: list[socket.socket] = []


def _backend_address() -> tuple[str, int]:
    """A loopback listener started on the first request. It never accepts: the kernel
    completes each connection into its backlog, so the app's end is ESTABLISHED."""
    with _BACKEND_LOCK:
        if not _BACKEND:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(4096)  # capped by net.core.somaxconn (4096 here)
            _BACKEND.append(listener)
        address: tuple[str, int] = _BACKEND[0].getsockname()
        return address


def SOCKET_PER_REQUEST(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: a TCP connection to a loopback backend opened per request and kept: one fd and
    one ESTABLISHED socket more per request, ~100 B of heap (the backlog holds 4096: drive
    it for fewer)."""
    upstream = socket.create_connection(_backend_address(), timeout=5)
    _UPSTREAMS.append(upstream)
    return _ok(start_response)


class PriceList:
    """Built per request from the request's rows; ``price`` is memoised on the method, so
    the cache, which lives on the class, keeps every PriceList (``self`` is in the key)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows = bytes(400)

    @functools.lru_cache(maxsize=None)  # noqa: B019, UP033  (the leak this app is about)
    def price(self, sku: str) -> int:
        return len(self.rows) + len(sku)


def LRU_METHOD(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: ``functools.lru_cache(maxsize=None)`` on a method of a per-request object: the
    cache keeps each PriceList and its 400-byte rows: ~0.6 KiB per request."""
    prices = PriceList(environ["PATH_INFO"])
    return _ok(start_response, str(prices.price("sku-1")).encode())


_RENDERED: dict[str, bytes] = {}
_NONCE = itertools.count()


def UNBOUNDED_CACHE(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: rendered pages cached by URL, the URL with its cache-busting query (unique per
    request), never evicted: a ~60-byte key and a 500-byte page, ~0.6 KiB per request."""
    key = f"{environ['PATH_INFO']}?_={next(_NONCE):012d}&lang=en-GB&theme=light"
    page = _RENDERED.get(key)
    if page is None:
        page = _RENDERED[key] = bytes(500)
    return _ok(start_response, page[:2])


_REQUEST_IDS = itertools.count()


def LOGGER_PER_REQUEST(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: ``logging.getLogger(f"req.{n}")`` per request: the logging manager keeps every
    logger it ever made (and the "req" placeholder lists each one): ~0.6 KiB per request."""
    log = logging.getLogger(f"req.{next(_REQUEST_IDS)}")
    log.debug("serving %s", environ["PATH_INFO"])
    return _ok(start_response)


_ERRORS: list[Exception] = []


class PaymentDeclined(Exception):
    pass


def _charge(path: str) -> None:
    statement = bytes(4000)  # a big local: the traceback's frame keeps it
    raise PaymentDeclined(f"{path}: declined ({len(statement)} bytes of statement)")


def STORED_EXCEPTIONS(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Leak: exceptions kept in a list "for the error dashboard": each keeps its traceback,
    the frames, and their locals (a 4,000-byte statement, and this request's environ):
    ~6 KiB per request."""
    try:
        _charge(environ["PATH_INFO"])
    except PaymentDeclined as exc:
        _ERRORS.append(exc)
    return _ok(start_response)


class _Node:
    def __init__(self, parent: _Node | None) -> None:
        self.parent = parent
        self.children: list[_Node] = []
        self.text = bytes(200)
        if parent is not None:
            parent.children.append(self)


def GC_SAWTOOTH(environ: Environ, start_response: Start) -> Iterable[bytes]:
    """Control: a parsed document per request, 100 nodes with parent links (~40 KiB in
    cycles), unreachable after the request and freed only by the garbage collector: the
    heap climbs between collections and falls back, a sawtooth, not a leak."""
    root = _Node(None)
    for _ in range(99):
        _Node(root)
    return _ok(start_response, str(len(root.children)).encode())
