"""memhound's end of the agent socket: a private Unix datagram socket, read continuously, and
the decoding of what the agent sends into model records.

The kernel queues at most ``net.unix.max_dgram_qlen`` datagrams for a socket (10 by default)
and then makes senders wait: read only once per tick, a program that sent 50 checkpoints in a
burst lost 39 of them and its goodbye. A reader thread now empties the socket as messages come,
and ``drain()`` hands over what it has gathered.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memhound.agent import contract
from memhound.model.readings import MemoryReading
from memhound.model.timeline import (
    AgentExit,
    AgentInfo,
    Checkpoint,
    GcEvent,
    IterationCount,
    OpenResource,
    OpenResources,
    Record,
    SnapshotTaken,
    TracedSample,
)

#: What a program may get wrong in a message memhound decodes (the agent's socket is the
#: program's to write to): a missing key, a value of the wrong type, a short list, infinity
#: where an integer belongs.
_MALFORMED = (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError)


@dataclass(frozen=True)
class Measured:
    """An agent's answer to the measure signal (``memhound soak --serve``): its traced heap
    after a full collection (None when not tracing). Not a timeline record: a run never asks."""

    t: float
    pid: int
    traced_bytes: int | None


@dataclass(frozen=True)
class ResourcesAnswer:
    """One datagram of an agent's answer to the resources signal (``memhound soak --serve``):
    the request it answers (``request_id``, ``action``), for a report a batch of the groups
    left open (``(kind, what, count, stack)``, stack oldest frame first), ``last`` on the
    answer's last batch; ``error`` when the agent could not answer. Not a timeline record."""

    t: float
    pid: int
    request_id: int
    action: str
    groups: tuple[tuple[str, str, int, tuple[tuple[str, int], ...]], ...]
    last: bool
    frames: int = 0
    error: str | None = None


Message = Record | Measured | ResourcesAnswer


def since(epoch_s: float) -> Callable[[Any], float]:
    """A message's wall-clock ``t`` as seconds since ``epoch_s`` (now, when ``t`` is not a
    number; never negative): the ``rel`` that ``decode`` takes."""

    def rel(wall: Any) -> float:
        try:
            return max(0.0, float(wall) - epoch_s)
        except (TypeError, ValueError):
            return max(0.0, time.time() - epoch_s)

    return rel


def agent_fd(msg: dict[str, Any]) -> tuple[int, int] | None:
    """``(pid, fd)`` of the agent's own socket when ``msg`` names it (a hello, or the first
    message on a new socket after the program closed the old one): left out of its fds."""
    fd = msg.get("agent_fd")
    if not isinstance(fd, int):
        return None
    try:
        return int(msg.get("pid", 0)), fd
    except _MALFORMED:
        return None


def decode(msg: dict[str, Any], rel: Callable[[Any], float]) -> list[Message]:
    """The records an agent message carries (a gc message carries a batch of collections),
    times made relative by ``rel``; none for a kind this memhound does not know.

    A malformed message from a program we do not control is skipped: what it held before
    the fault (the collections of a batch before a bad one) is kept, the rest dropped.
    """
    out: list[Message] = []
    try:
        _decode(msg, rel, out)
    except _MALFORMED:
        pass
    return out


def _decode(msg: dict[str, Any], rel: Callable[[Any], float], out: list[Message]) -> None:
    kind = msg.get("kind")
    pid = int(msg.get("pid", 0))
    if kind == contract.KIND_GC:
        for ev in msg.get("events", []):
            t, gen, collected, uncollectable, duration = ev
            out.append(
                GcEvent(rel(t), pid, int(gen), int(collected), int(uncollectable), float(duration))
            )
    elif kind == contract.KIND_CHECKPOINT:
        reading = msg.get("reading")
        out.append(
            Checkpoint(
                t=rel(msg.get("t")),
                pid=pid,
                label=str(msg.get("label", "")),
                reading=MemoryReading.from_dict(reading)
                if isinstance(reading, dict) and "rss_bytes" in reading
                else None,
            )
        )
    elif kind == contract.KIND_TRACED:
        out.append(TracedSample(rel(msg.get("t")), pid, int(msg["current"]), int(msg["peak"])))
    elif kind == contract.KIND_ITERATIONS:
        out.append(IterationCount(rel(msg.get("t")), pid, int(msg["n"])))
    elif kind in (contract.KIND_SNAPSHOT, contract.KIND_SNAPSHOT_FAILED):
        out.append(
            SnapshotTaken(
                rel(msg.get("t")),
                pid,
                str(msg.get("reason", "")),
                msg.get("path"),
                msg.get("nodes"),
                msg.get("bytes"),
                msg.get("error"),
            )
        )
    elif kind == contract.KIND_OPEN_RESOURCES:
        items = tuple(
            OpenResource(
                str(i["kind"]),
                str(i["what"]),
                tuple((str(f[0]), int(f[1])) for f in i.get("stack", ())),
            )
            for i in msg.get("items", ())
        )
        out.append(OpenResources(rel(msg.get("t")), pid, items))
    elif kind == contract.KIND_BYE:
        out.append(
            AgentExit(
                rel(msg.get("t")),
                pid,
                int(msg.get("rss_bytes", -1)),
                int(msg.get("iterations", 0)),
                int(msg.get("trims", 0)),
            )
        )
    elif kind == contract.KIND_HELLO:
        # Not an int: it listens for no signal memhound may send (sent anyway, a real-time
        # signal would end it); the hello counts all the same.
        measure_signal = msg.get("measure_signal")
        resources_signal = msg.get("resources_signal")
        out.append(
            AgentInfo(
                rel(msg.get("t")),
                pid,
                str(msg.get("python", "")),
                str(msg.get("executable", "")),
                bool(msg.get("trace_python", False)),
                measure_signal if isinstance(measure_signal, int) else 0,
                resources_signal if isinstance(resources_signal, int) else 0,
            )
        )
    elif kind == contract.KIND_MEASURED:
        traced = msg.get("traced")
        out.append(Measured(rel(msg.get("t")), pid, None if traced is None else int(traced)))
    elif kind == contract.KIND_RESOURCES:
        error = msg.get("error")
        out.append(
            ResourcesAnswer(
                rel(msg.get("t")),
                pid,
                int(msg["id"]),
                str(msg.get("do", "")),
                tuple(
                    (
                        str(g["kind"]),
                        str(g["what"]),
                        int(g["count"]),
                        tuple((str(f[0]), int(f[1])) for f in g.get("stack", ())),
                    )
                    for g in msg.get("groups", ())
                ),
                bool(msg.get("last", True)),
                int(msg.get("frames", 0)),
                None if error is None else str(error),
            )
        )


CHANNEL_PREFIX = "memhound-"
SOCKET_NAME = "agent.sock"


def sweep_stale_channels(tmp: str) -> int:
    """Remove the socket directories that memhounds killed before they could clean up left
    in ``tmp`` (ours only: same owner, mode 0700, nothing in them but ``agent.sock``, and no
    process receiving on it). Returns how many were removed."""
    removed = 0
    try:
        names = [n for n in os.listdir(tmp) if n.startswith(CHANNEL_PREFIX)]
    except OSError:
        return 0
    for name in names:
        where = os.path.join(tmp, name)
        sock_path = os.path.join(where, SOCKET_NAME)
        try:
            st = os.lstat(where)
            if (
                not stat.S_ISDIR(st.st_mode)
                or st.st_uid != os.getuid()
                or stat.S_IMODE(st.st_mode) != 0o700
                or os.listdir(where) != [SOCKET_NAME]
                or not stat.S_ISSOCK(os.lstat(sock_path).st_mode)
            ):
                continue
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                probe.connect(sock_path)
                continue  # a memhound still receives on it
            except ConnectionRefusedError:
                pass
            finally:
                probe.close()
            os.unlink(sock_path)
            os.rmdir(where)
            removed += 1
        except OSError:
            continue
    return removed


class AgentChannel:
    """Binds ``agent.sock`` (0600) in a fresh 0700 directory; ``drain()`` reads what arrived."""

    def __init__(self) -> None:
        sweep_stale_channels(tempfile.gettempdir())
        self.dir = tempfile.mkdtemp(prefix=CHANNEL_PREFIX)
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, SOCKET_NAME)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o600)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.bad_messages = 0
        self._arrived: deque[bytes] = deque()
        self._closing = False
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="memhound-channel", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closing:
            try:
                select.select([self._sock], [], [], 0.5)
            except (OSError, ValueError):
                return
            with self._lock:
                self._take()

    def _take(self) -> None:
        """Move what the kernel holds to ``_arrived``, in order (with ``_lock`` held: the
        reader and ``drain`` both read, one at a time, so nothing is reordered)."""
        while True:
            try:
                data = self._sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except OSError:  # nothing more (EAGAIN), or closed
                return
            if not data and self._closing:
                return
            self._arrived.append(data)

    def _ready(self, limit: int) -> list[bytes]:
        """What has arrived, the kernel's queue included (the reader may not have run since
        the program's last words); at most ``limit``, the rest stays for the next call."""
        out: list[bytes] = []
        with self._lock:
            self._take()
            while self._arrived and len(out) < limit:
                out.append(self._arrived.popleft())
        return out

    def drain(self, limit: int = 10_000) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for data in self._ready(limit):
            try:
                msg = json.loads(data)
            except ValueError:
                self.bad_messages += 1
                continue
            if isinstance(msg, dict):
                out.append(msg)
        return out

    def child_env(self, *, trace_python: bool, interval_s: float, gc_keep: int) -> dict[str, str]:
        from memhound.agent import BOOT_DIR

        return {
            contract.ENV_SOCKET: self.path,
            contract.ENV_TRACE: "1" if trace_python else "0",
            contract.ENV_INTERVAL: str(interval_s),
            contract.ENV_GC_KEEP: str(gc_keep),
            contract.ENV_BOOT_DIR: str(BOOT_DIR),
        }

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader's select
        self._reader.join(timeout=2.0)
        with contextlib.suppress(OSError):
            self._sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
