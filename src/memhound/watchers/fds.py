"""A process's file descriptors by kind, sockets with their addresses and state (procfs)."""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from memhound.errors import AccessDenied, ProcessNotFound

TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
}

#: How memhound's in-process agent names its socket (in Linux's abstract namespace, shown
#: with a leading ``@``), so watchers can leave it out of the program's fds.
AGENT_SOCKET = "@memhound-agent-"


@dataclass(frozen=True)
class SocketInfo:
    protocol: str  # tcp, tcp6, udp, udp6, unix
    local: str
    remote: str
    state: str

    @property
    def remote_port(self) -> int | None:
        _, sep, port = self.remote.rpartition(":")
        return int(port) if sep and port.isdigit() else None

    @property
    def local_port(self) -> int | None:
        _, sep, port = self.local.rpartition(":")
        return int(port) if sep and port.isdigit() else None


@dataclass(frozen=True)
class Fd:
    """One open file descriptor. ``kind``: file, socket, pipe, anon (eventfd, epoll...),
    device, other; ``target`` what it points at."""

    fd: int
    kind: str
    target: str
    socket: SocketInfo | None = None

    @property
    def is_memhound_agent(self) -> bool:
        """memhound's own agent socket, not the program's."""
        s = self.socket
        return s is not None and s.protocol == "unix" and s.local.startswith(AGENT_SOCKET)

    def describe(self) -> str:
        if self.socket is not None:
            s = self.socket
            if s.protocol == "unix":
                return f"unix socket {s.local or s.remote or '(unnamed)'}"
            return f"{s.protocol} socket {s.local} -> {s.remote} ({s.state})"
        return f"{self.kind} {self.target}"


def _hex_addr(text: str, v6: bool) -> str:
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    if v6:
        words = struct.unpack("<4I", raw)
        host = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
        return f"[{host}]:{int(port, 16)}"
    host = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(addr, 16)))
    return f"{host}:{int(port, 16)}"


def _sockets(pid: int) -> dict[str, SocketInfo]:
    """Socket inode -> info, from the process's network namespace view."""
    out: dict[str, SocketInfo] = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            # binary: a text-mode open() leaves ~36 B behind per call for its first ~200
            # calls (codec state caches), which a soak of few requests reads as growth
            with open(f"/proc/{pid}/net/{proto}", "rb") as fh:
                next(fh, None)
                for raw in fh:
                    parts = raw.decode("ascii", "replace").split()
                    if len(parts) < 10:
                        continue
                    v6 = proto.endswith("6")
                    state = int(parts[3], 16)
                    out[parts[9]] = SocketInfo(
                        proto,
                        _hex_addr(parts[1], v6),
                        _hex_addr(parts[2], v6),
                        TCP_STATES.get(state, str(state)) if proto.startswith("tcp") else "-",
                    )
        except (OSError, ValueError):
            continue
    try:
        with open(f"/proc/{pid}/net/unix", "rb") as fh:
            next(fh, None)
            for raw in fh:
                parts = raw.decode("utf-8", "replace").split()
                if len(parts) >= 7:
                    path = parts[7] if len(parts) > 7 else ""
                    out[parts[6]] = SocketInfo("unix", path, "", "-")
    except OSError:
        pass
    return out


def _sockets_cached(
    pid: int, cache: dict[str, dict[str, SocketInfo]] | None
) -> dict[str, SocketInfo]:
    if cache is None:
        return _sockets(pid)
    try:
        netns = os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return _sockets(pid)
    table = cache.get(netns)
    if table is None:
        table = cache[netns] = _sockets(pid)
    return table


def open_fds(
    pid: int | None = None, *, sockets_cache: dict[str, dict[str, SocketInfo]] | None = None
) -> list[Fd]:
    """Every open fd of ``pid`` (default: this process), sockets resolved to addresses.

    The socket tables are per network namespace and costly to read (the kernel walks its
    hash tables: ~1 ms per file here); ``sockets_cache`` shares them between the processes
    of one sample."""
    pid = os.getpid() if pid is None else pid
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError as exc:
        raise ProcessNotFound(f"no process with pid {pid}") from exc
    except PermissionError as exc:
        raise AccessDenied(
            f"not allowed to list the file descriptors of pid {pid}",
            hint="run memhound as the same user as the process, or as root",
        ) from exc
    socks: dict[str, SocketInfo] | None = None
    out = []
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue  # closed meanwhile (the listdir's own fd, for one)
        info = None
        if target.startswith("socket:["):
            kind = "socket"
            if socks is None:
                socks = _sockets_cached(pid, sockets_cache)
            info = socks.get(target[8:-1])
        elif target.startswith("pipe:["):
            kind = "pipe"
        elif target.startswith("anon_inode:"):
            kind = "anon"
        elif target.startswith("/dev/"):
            kind = "device"
        elif target.startswith("/"):
            kind = "file"
        else:
            kind = "other"
        out.append(Fd(int(name), kind, target, info))
    out.sort(key=lambda f: f.fd)
    return out


def count_by_kind(fds: list[Fd]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in fds:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return counts
