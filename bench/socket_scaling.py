"""What other processes' sockets cost memhound's resource watching (issue #13).

    python bench/socket_scaling.py                      # 10,000 connections, 3 rounds: ~1 min
    python bench/socket_scaling.py --connections 3000 --rounds 1
    python bench/socket_scaling.py --memhound-src /tmp/mh/src   # measure an exported commit

Two figures, each first with no foreign sockets, then while a helper
(``bench/_idle_connections.py``, two processes) holds ``--connections`` idle TCP connections
on loopback, both ends, i.e. twice as many sockets in this network namespace, none of them
the measured process's:

* **soak**: ``requests_per_s`` of ``memhound soak --asgi examples.leaks.asgi_zoo:leaky -n
  REQUESTS --no-snapshots --json`` (in-process; a resource sample of the soak's own process,
  which holds its event loop's socket pair, every ``REQUESTS / 200`` requests);
* **pytest**: the time pytest reports (junit XML) for a file of four tests marked
  ``no_resource_leaks`` (each opens and closes a loopback connection; the file holds a
  listening socket throughout; the check lists the process's fds with their sockets before
  and after each test).

Each figure is the median of ``--rounds`` fresh processes; the ratio is loaded / unloaded
(soak: the slowdown, unloaded req/s over loaded req/s). Stdlib only; Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_TESTS = """
import socket
import pytest

# held by the test process across its tests, like a test server or a client pool
SERVER = socket.socket()
SERVER.bind(("127.0.0.1", 0))
SERVER.listen()


def _roundtrip():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    client.sendall(b"x")
    assert peer.recv(1) == b"x"
    for s in (peer, client, server):
        s.close()


@pytest.mark.no_resource_leaks
@pytest.mark.parametrize("i", range(4))
def test_clean(i):
    _roundtrip()
"""


class Bench:
    def __init__(self, memhound_src: Path | None, tmp: Path) -> None:
        self.env = dict(os.environ)
        paths = [str(ROOT)]
        if memhound_src is not None:
            paths.insert(0, str(memhound_src))
        self.env["PYTHONPATH"] = os.pathsep.join([*paths, self.env.get("PYTHONPATH", "")])
        self.tmp = tmp
        self.runs = 0
        self.test_file = tmp / "test_clean_sockets.py"
        self.test_file.write_text(_TESTS)

    def _run(self, *args: str) -> str:
        res = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:4])}...: exit {res.returncode}\n{res.stderr}")
        return res.stdout

    def soak_rps(self, n: int) -> float:
        self.runs += 1
        out = self._run(
            "-m", "memhound", "soak", "--asgi", "examples.leaks.asgi_zoo:leaky", "-n", str(n),
            "--no-snapshots", "--json", "-o", str(self.tmp / f"run{self.runs}"),
        )  # fmt: skip
        return float(json.loads(out)["requests_per_s"])

    def pytest_s(self) -> float:
        """The four tests' own time (pytest's, from its junit XML: no interpreter start)."""
        self.runs += 1
        xml = self.tmp / f"junit{self.runs}.xml"
        self._run(
            "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
            f"--junitxml={xml}", f"--rootdir={self.tmp}", str(self.test_file),
        )  # fmt: skip
        cases = ET.parse(xml).getroot().iter("testcase")
        return sum(float(c.get("time", "0")) for c in cases)


def _measure(bench: Bench, rounds: int, requests: int) -> tuple[float, float]:
    rps = [bench.soak_rps(requests) for _ in range(rounds)]
    secs = [bench.pytest_s() for _ in range(rounds)]
    return statistics.median(rps), statistics.median(secs)


def _tcp_sockets() -> int:
    """Sockets in this network namespace's TCP tables (both families)."""
    total = 0
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{name}", "rb") as fh:
                total += sum(1 for _ in fh) - 1
        except OSError:
            pass
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=10_000, help="idle foreign connections")
    p.add_argument("--rounds", type=int, default=3, help="runs of each figure (median)")
    p.add_argument("--requests", type=int, default=2000, help="soak length")
    p.add_argument("--memhound-src", type=Path, help="put DIR first on the children's path")
    args = p.parse_args(argv)

    print(f"Python {platform.python_version()}, kernel {platform.release()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="mh-socket-scaling-") as tmp:
        bench = Bench(args.memhound_src, Path(tmp))
        base_sockets = _tcp_sockets()
        rps0, secs0 = _measure(bench, args.rounds, args.requests)
        holder = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_idle_connections.py"), str(args.connections)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert holder.stdout is not None
            if not holder.stdout.readline().startswith("ready"):
                raise RuntimeError("the connection holder did not start (see its stderr)")
            loaded_sockets = _tcp_sockets()
            rps1, secs1 = _measure(bench, args.rounds, args.requests)
        finally:
            if holder.stdin is not None:
                holder.stdin.close()
            try:
                holder.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(holder.pid, 9)
                holder.wait()
            if holder.stdout is not None:
                holder.stdout.close()

    rows = [
        ("foreign TCP sockets in the namespace", f"{base_sockets:,}", f"{loaded_sockets:,}", ""),
        (
            f"soak -n {args.requests} (req/s, higher is better)",
            f"{rps0:,.0f}",
            f"{rps1:,.0f}",
            f"{rps0 / rps1:.2f}x",
        ),
        (
            "pytest, 4 no_resource_leaks tests (s)",
            f"{secs0:.3f}",
            f"{secs1:.3f}",
            f"{secs1 / secs0:.2f}x",
        ),
    ]
    print(f"\n{args.rounds} round(s), medians; {args.connections:,} idle loopback connections\n")
    print("| figure | without | with | slowdown |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
