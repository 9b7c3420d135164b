"""Redis clients from ``CLIENT LIST``, over a minimal RESP client (no driver needed)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from memhound.watchers._dsn import mask_dsn
from memhound.watchers.postgres import WatcherError


@dataclass(frozen=True)
class Client:
    id: int
    name: str
    addr: str
    age_s: int
    idle_s: int
    cmd: str

    @property
    def port(self) -> int | None:
        _, sep, port = self.addr.rpartition(":")
        return int(port) if sep and port.isdigit() else None


def mask_url(url: str) -> str:
    """The URL with its password (userinfo and ``?password=``) replaced by ``***``."""
    return mask_dsn(url)


def _command(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        raw = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _reply(reader: BinaryIO) -> object:
    line = reader.readline()
    if not line:
        raise WatcherError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise WatcherError(f"Redis says: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = reader.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_reply(reader) for _ in range(count)]
    raise WatcherError(f"unexpected Redis reply {line[:40]!r}")


def max_clients(url: str, *, timeout_s: float = 5.0) -> int:
    """The server's ``maxclients`` (``CONFIG GET``; an error when the command is renamed or
    not allowed)."""
    reply = _ask(url, ("CONFIG", "GET", "maxclients"), timeout_s)
    if not isinstance(reply, list) or len(reply) < 2:
        raise WatcherError(f"Redis at {mask_url(url)}: CONFIG GET maxclients gave {reply!r}")
    return int(str(reply[1]))


def _ask(url: str, command: tuple[str, ...], timeout_s: float) -> object:
    p = urlparse(url)
    if p.scheme not in ("redis", ""):
        raise WatcherError(f"not a redis:// URL: {mask_url(url)}", hint="redis://host:6379/0")
    host, port = p.hostname or "127.0.0.1", p.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            f = sock.makefile("rb")
            if p.password is not None:
                user = unquote(p.username) if p.username else None
                auth = (
                    ("AUTH", user, unquote(p.password)) if user else ("AUTH", unquote(p.password))
                )
                sock.sendall(_command(*auth))
                _reply(f)
            sock.sendall(_command(*command))
            answer = _reply(f)
            f.close()
    except WatcherError as exc:
        raise WatcherError(f"Redis at {mask_url(url)}: {exc.message}") from exc
    except OSError as exc:
        raise WatcherError(
            f"Redis at {mask_url(url)}: {exc.strerror or exc}",
            hint="check the URL and that the server runs",
        ) from exc
    return answer


def clients(url: str, *, timeout_s: float = 5.0) -> list[Client]:
    """Connected clients other than this query's own connection."""
    p = urlparse(url)
    if p.scheme not in ("redis", ""):
        raise WatcherError(f"not a redis:// URL: {mask_url(url)}", hint="redis://host:6379/0")
    host, port = p.hostname or "127.0.0.1", p.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            f = sock.makefile("rb")
            if p.password is not None:
                user = unquote(p.username) if p.username else None
                auth = (
                    ("AUTH", user, unquote(p.password)) if user else ("AUTH", unquote(p.password))
                )
                sock.sendall(_command(*auth))
                _reply(f)
            sock.sendall(_command("CLIENT", "ID"))
            me = _reply(f)
            sock.sendall(_command("CLIENT", "LIST"))
            text = _reply(f)
            f.close()
    except WatcherError as exc:  # "max number of clients reached": named, so not read as 0
        raise WatcherError(f"Redis at {mask_url(url)}: {exc.message}") from exc
    except OSError as exc:
        raise WatcherError(
            f"Redis at {mask_url(url)}: {exc.strerror or exc}",
            hint="check the URL and that the server runs",
        ) from exc
    out = []
    for line in str(text or "").splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if int(fields.get("id", -1)) == me:
            continue
        out.append(
            Client(
                id=int(fields.get("id", -1)),
                name=fields.get("name", ""),
                addr=fields.get("addr", ""),
                age_s=int(fields.get("age", 0)),
                idle_s=int(fields.get("idle", 0)),
                cmd=fields.get("cmd", ""),
            )
        )
    return out
