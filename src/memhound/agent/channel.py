"""memhound's end of the agent socket: a private Unix datagram socket it reads each tick."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from typing import Any


class AgentChannel:
    """Binds ``agent.sock`` (0600) in a fresh 0700 directory; ``drain()`` reads what arrived."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="memhound-")
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, "agent.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self._sock.setblocking(False)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.bad_messages = 0

    def drain(self, limit: int = 10_000) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(limit):
            try:
                data = self._sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
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
            "MEMHOUND_AGENT_SOCKET": self.path,
            "MEMHOUND_TRACE_PYTHON": "1" if trace_python else "0",
            "MEMHOUND_AGENT_INTERVAL": str(interval_s),
            "MEMHOUND_GC_KEEP": str(gc_keep),
            "MEMHOUND_BOOT_DIR": str(BOOT_DIR),
        }

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
