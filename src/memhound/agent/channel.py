"""memhound's end of the agent socket: a private Unix datagram socket, read continuously.

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
import tempfile
import threading
from collections import deque
from typing import Any

from memhound.agent import contract


class AgentChannel:
    """Binds ``agent.sock`` (0600) in a fresh 0700 directory; ``drain()`` reads what arrived."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="memhound-")
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, "agent.sock")
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
