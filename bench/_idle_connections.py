"""Hold N idle TCP connections on loopback, both ends, for bench/socket_scaling.py.

    python bench/_idle_connections.py N

Two processes (this one and a child it starts) share the ends, so each holds ~N fds: one
process with both ends of 10,000 connections would need 20,000, this VM's hard limit.
Prints ``ready PORT`` once every connection is established, then waits for stdin to close
(or ``MAX_LIFETIME_S``) and exits, closing everything. Stdlib only.
"""

from __future__ import annotations

import resource
import signal
import socket
import struct
import subprocess
import sys

#: a helper nobody stopped (its parent killed) goes away on its own
MAX_LIFETIME_S = 3600


def _raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 64
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise SystemExit(f"needs {need} fds, the hard limit is {hard}: use fewer connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def _clients(port: int, n: int) -> None:
    """The child: n connections to the parent's listener, held until stdin closes."""
    _raise_fd_limit(n)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    print("connected", flush=True)
    sys.stdin.readline()
    for s in held:
        # a reset, not a FIN: no TIME_WAIT left in the tables for the next measurement
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def main() -> None:
    signal.alarm(MAX_LIFETIME_S)
    if sys.argv[1] == "--clients":
        _clients(int(sys.argv[2]), int(sys.argv[3]))
        return
    n = int(sys.argv[1])
    _raise_fd_limit(n)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, __file__, "--clients", str(port), str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        accepted = []
        listener.settimeout(60)
        for _ in range(n):
            accepted.append(listener.accept()[0])
        assert child.stdout is not None and child.stdout.readline().strip() == "connected"
        print(f"ready {port}", flush=True)
        sys.stdin.readline()
        for s in accepted:
            s.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    main()
