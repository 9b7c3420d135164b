"""A process's file descriptors by kind, sockets with their addresses and state (procfs)."""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

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


def _sock_addr(text: str) -> tuple[bytes, int]:
    """``/proc/net/tcp``'s ``0100007F:1F90`` -> (the address in network order, 16 bytes, as
    sock_diag wants it; the port). The kernel prints each 32-bit word of the address as a
    native integer, so each word is packed back the same way."""
    addr, port = text.split(":")
    raw = b"".join(struct.pack("=I", int(addr[i : i + 8], 16)) for i in range(0, len(addr), 8))
    return raw.ljust(16, b"\0"), int(port, 16)


#: the tables a socket can be in, by the protocol sockfs names (``system.sockprotoname``)
_TABLES = {"TCP": "tcp", "TCPv6": "tcp6", "UDP": "udp", "UDPv6": "udp6"}
_ALL_TABLES = ("tcp", "tcp6", "udp", "udp6", "unix")
_SOCK_DIAG_BY_FAMILY = 20
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_NO_COOKIE = 0xFFFFFFFF
#: sock_diag lookups sent at once (72 bytes each)
_BATCH = 256


def _table_of(pid: int, fd: str) -> str | None:
    """The procfs table that can list the socket behind ``fd`` (None: none of them, e.g. a
    netlink socket), or "" when the kernel does not say."""
    try:
        name = os.getxattr(f"/proc/{pid}/fd/{fd}", "system.sockprotoname")
    except OSError:
        return ""
    proto = name.rstrip(b"\0").decode("ascii", "replace")
    if proto.startswith("UNIX"):
        return "unix"
    return _TABLES.get(proto)


@dataclass(frozen=True)
class _Known:
    info: SocketInfo
    #: TCP: the sock_diag request body that finds this socket again (family, 4-tuple)
    diag: bytes | None = None


#: up to this many inodes, a table is searched for each inode's text rather than split
#: line by line: a few searches of the whole text allocate nothing per line, which matters
#: under tracemalloc (the pytest checks run under it: 3 s a split of 20,000 lines)
_FIND_MAX = 16


def _lines(data: bytes, column: int, keys: set[bytes]) -> Iterator[list[bytes]]:
    """The lines of ``data`` whose ``column`` (0-based, whitespace-separated) is in ``keys``,
    split (up to the column after it)."""
    if len(keys) > _FIND_MAX:
        for raw in data.split(b"\n")[1:]:
            parts = raw.split(None, column + 1)
            if len(parts) > column and parts[column] in keys:
                yield parts
        return
    for key in keys:
        needle = b" " + key  # then a space, or the line's end (a Unix socket without a name)
        pos = data.find(needle)
        while pos >= 0:
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end
            after = pos + len(needle)
            if after == end or data[after] == 0x20:
                start = data.rfind(b"\n", 0, pos) + 1
                if start > 0:  # the first line is the header
                    parts = data[start:end].split(None, column + 1)
                    if len(parts) > column and parts[column] == key:
                        yield parts
                        break
            pos = data.find(needle, after)


def _scan(pid: int, tables: Iterable[str], wanted: set[str]) -> dict[str, _Known]:
    """The sockets of ``wanted`` (inodes) in the process's view of ``tables``.

    Every line of a table is one socket of the whole network namespace, the process's or
    not (a busy server has thousands): only the process's own lines are decoded and
    formatted."""
    keys = {i.encode() for i in wanted}
    out: dict[str, _Known] = {}
    for table in tables:
        try:
            # binary: a text-mode open() leaves ~36 B behind per call for its first ~200
            # calls (codec state caches), which a soak of few requests reads as growth
            with open(f"/proc/{pid}/net/{table}", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if table == "unix":
            for parts in _lines(data, 6, keys):
                path = parts[7] if len(parts) > 7 else b""
                info = SocketInfo("unix", path.decode("utf-8", "replace"), "", "-")
                out[parts[6].decode()] = _Known(info)
            continue
        for parts in _lines(data, 9, keys):
            found = _inet_line(table, parts)
            if found is not None:
                out[parts[9].decode()] = found
    return out


def _inet_line(table: str, parts: list[bytes]) -> _Known | None:
    v6 = table.endswith("6")
    try:
        local, remote = parts[1].decode(), parts[2].decode()
        state = int(parts[3], 16)
        if not table.startswith("tcp"):
            return _Known(SocketInfo(table, _hex_addr(local, v6), _hex_addr(remote, v6), "-"))
        info = SocketInfo(
            table, _hex_addr(local, v6), _hex_addr(remote, v6), TCP_STATES.get(state, str(state))
        )
        (src, sport), (dst, dport) = _sock_addr(local), _sock_addr(remote)
    except (UnicodeDecodeError, ValueError, struct.error, OSError):
        return None
    family = socket.AF_INET6 if v6 else socket.AF_INET
    diag = (
        struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
        + struct.pack("!HH", sport, dport)
        + src
        + dst
        + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    )
    return _Known(info, diag)


def _tcp_states(asked: dict[str, bytes]) -> dict[str, int | None]:
    """inode -> its TCP state now (None: no longer in the tables), for the sockets of
    ``asked`` (inode -> sock_diag request body), one exact lookup each: the kernel finds each
    socket by its 4-tuple in its hash tables, whatever else the namespace holds. Only for
    memhound's own network namespace (the netlink socket's); inodes left out of the answer
    (a lookup that found another socket, an error) are for the caller to look up otherwise.
    The netlink socket lives only for this call, so a watcher of its own process never
    lists it."""
    out: dict[str, int | None] = {}
    items = list(asked.items())
    try:
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)  # NETLINK_SOCK_DIAG
    except OSError:
        return out
    with nl:
        nl.settimeout(1.0)
        for first in range(0, len(items), _BATCH):
            batch = items[first : first + _BATCH]
            msg = b"".join(
                struct.pack("=IHHII", 16 + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, k, 0)
                + body
                for k, (_, body) in enumerate(batch)
            )
            try:
                nl.send(msg)
                pending = len(batch)
                while pending:
                    data = nl.recv(1 << 17)
                    off = 0
                    while off + 16 <= len(data):
                        length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, off)
                        if length < 16 or seq >= len(batch):
                            break
                        pending -= 1
                        inode = batch[seq][0]
                        if kind == _NLMSG_ERROR:
                            (err,) = struct.unpack_from("=i", data, off + 16)
                            if err == -errno.ENOENT:
                                out[inode] = None
                        elif kind == _SOCK_DIAG_BY_FAMILY and length >= 16 + 72:
                            state = data[off + 17]
                            (found,) = struct.unpack_from("=I", data, off + 16 + 68)
                            if str(found) == inode:
                                out[inode] = state
                        off += (length + 3) & ~3
            except OSError:
                return out
    return out


class _Namespace:
    """What one network namespace's tables said about the sockets asked for."""

    def __init__(self) -> None:
        self.known: dict[str, _Known] = {}
        #: looked for and not in any table (not bound yet, closed, a netlink socket...)
        self.absent: set[str] = set()
        #: not listed or listed without a name -> its table: looked for again whenever that
        #: table is read
        self.recheck: dict[str, str] = {}
        self.used: set[str] = set()
        self.refreshed: set[str] = set()


class SocketCache:
    """Socket inode -> SocketInfo, kept between samples, so that a sample costs what the
    watched processes hold, not what the whole network namespace does.

    The socket tables (``/proc/PID/net/*``) list every socket of the namespace: on a busy
    server thousands of other processes' connections, formatted by the kernel and read by
    us at every sample (issue #13: 0.14 s a sample with 3,100 of them). Here a table is read
    only when a process holds a socket not seen before, and then only the lines of the
    sockets asked for are decoded. The one thing that changes on a known socket that the
    callers read is a TCP socket's state (ESTABLISHED -> CLOSE_WAIT is how a leaked
    connection shows): it is asked of the kernel by the socket's 4-tuple (sock_diag), which
    costs the same however many sockets the namespace holds; when memhound is in another
    namespace than the process, the TCP tables are read instead. Not followed between
    reads: a socket listed without a name (a Unix socket bound later) or not yet listed (a
    TCP socket between socket() and connect()); they are looked for again at the next read.

    Call ``new_sample()`` before each sample: it forgets the sockets the last sample did
    not ask for, and makes the TCP states be asked again."""

    def __init__(self) -> None:
        self._spaces: dict[str, _Namespace] = {}
        try:
            self._own_netns: str | None = os.readlink("/proc/self/ns/net")
        except OSError:
            self._own_netns = None

    def new_sample(self) -> None:
        for space in self._spaces.values():
            keep = space.used
            space.known = {i: k for i, k in space.known.items() if i in keep}
            space.absent &= keep
            space.recheck = {i: t for i, t in space.recheck.items() if i in keep}
            space.used = set()
            space.refreshed = set()

    def lookup(self, pid: int, fds: Mapping[str, str]) -> dict[str, SocketInfo]:
        """``fds``: socket inode -> an fd of ``pid`` that holds it -> the sockets found."""
        try:
            netns: str | None = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            netns = None
        space = self._spaces.setdefault(netns, _Namespace()) if netns else _Namespace()
        space.used.update(fds)
        tables: dict[str, str] = {}
        for inode, fd in fds.items():
            if inode in space.known or inode in space.absent:
                continue
            table = _table_of(pid, fd)
            if table is None:
                space.absent.add(inode)  # a kind of socket no table lists: never read for
            else:
                tables[inode] = table
        if tables:
            wanted = set(tables.values())
            read = _ALL_TABLES if "" in wanted else tuple(t for t in _ALL_TABLES if t in wanted)
            for inode, table in space.recheck.items():
                if inode in fds and (table in read if table else read == _ALL_TABLES):
                    tables[inode] = table
            self._store(space, tables, _scan(pid, read, set(tables)))
        tcp = {
            i: k.diag
            for i in fds
            if i not in tables
            and i not in space.refreshed
            and (k := space.known.get(i)) is not None
            and k.diag is not None
        }
        if tcp:
            states = _tcp_states(tcp) if netns is not None and netns == self._own_netns else {}
            for inode, state in states.items():
                known = space.known[inode]
                if state is None:
                    del space.known[inode]
                    space.absent.add(inode)
                    space.recheck[inode] = known.info.protocol
                else:
                    name = TCP_STATES.get(state, str(state))
                    space.known[inode] = _Known(replace(known.info, state=name), known.diag)
            rest = {i: space.known[i].info.protocol for i in tcp if i not in states}
            if rest:
                self._store(space, rest, _scan(pid, ("tcp", "tcp6"), set(rest)))
            space.refreshed.update(tcp)
        return {i: space.known[i].info for i in fds if i in space.known}

    @staticmethod
    def _store(space: _Namespace, asked: Mapping[str, str], found: dict[str, _Known]) -> None:
        """``asked``: inode -> its table, every one of them read."""
        for inode, table in asked.items():
            k = found.get(inode)
            if k is None:
                space.known.pop(inode, None)
                space.absent.add(inode)
                space.recheck[inode] = table
                continue
            space.known[inode] = k
            space.absent.discard(inode)
            if k.info.protocol == "unix" and not k.info.local:
                space.recheck[inode] = "unix"
            else:
                space.recheck.pop(inode, None)


def open_fds(pid: int | None = None, *, sockets_cache: SocketCache | None = None) -> list[Fd]:
    """Every open fd of ``pid`` (default: this process), sockets resolved to addresses.

    Pass the same ``sockets_cache`` to every call of a watcher (and call its
    ``new_sample()`` before each sample): a sample then reads the network namespace's socket
    tables only when a socket appeared, instead of at every call."""
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
    found = []
    sockets: dict[str, str] = {}
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue  # closed meanwhile (the listdir's own fd, for one)
        if target.startswith("socket:["):
            kind = "socket"
            sockets.setdefault(target[8:-1], name)
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
        found.append((int(name), kind, target))
    infos: dict[str, SocketInfo] = {}
    if sockets:
        cache = sockets_cache if sockets_cache is not None else SocketCache()
        infos = cache.lookup(pid, sockets)
    out = [
        Fd(fd, kind, target, infos.get(target[8:-1]) if kind == "socket" else None)
        for fd, kind, target in found
    ]
    out.sort(key=lambda f: f.fd)
    return out


def count_by_kind(fds: list[Fd]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in fds:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return counts
