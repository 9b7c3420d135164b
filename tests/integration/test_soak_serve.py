"""`memhound soak --serve`: the server memhound starts is the one it loads and measures, and
its end is told as it happened."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, memhound_cmd, mh
from tests.servers import free_port


@pytest.fixture()
def squatter() -> Iterator[tuple[socket.socket, int]]:
    """A plain socket listening on a free loopback port: not an HTTP server, not memhound's."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock, int(sock.getsockname()[1])
    finally:
        sock.close()


def serve_cmd(tmp: Path, port: int) -> str:
    """http.server on ``port``, after leaving a file that says it was started."""
    script = tmp / "serve.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from http.server import SimpleHTTPRequestHandler as Handler, ThreadingHTTPServer
            open({str(tmp / "started")!r}, "w").close()
            ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
            """
        )
    )
    return shlex.join([sys.executable, str(script), str(port)])


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_serve_refuses_a_port_already_in_use(
    squatter: tuple[socket.socket, int], tmp_path: Path
) -> None:
    """The server would fail to bind, and memhound used to soak the one already listening
    (every request a 404 of another server, measured on the one it had started)."""
    _, port = squatter
    res = mh(
        "soak",
        "--url",
        f"http://127.0.0.1:{port}/",
        "--serve",
        serve_cmd(tmp_path, port),
        "-n",
        "50",
        "-o",
        str(tmp_path / "r"),
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert f"something already listens on http://127.0.0.1:{port}" in res.stderr
    assert f"pid {os.getpid()}" in res.stderr  # the squatter, named
    assert "give --serve and --url a port that is free" in res.stderr
    assert not (tmp_path / "started").exists()  # refused before starting anything
    assert "started the server" not in res.stderr and "Traceback" not in res.stderr


def test_serve_refuses_a_listener_outside_the_tree_it_started(tmp_path: Path) -> None:
    """The command listens on another port; once it is started, something else takes the
    URL's port: memhound would load that and measure the server it started."""
    port, elsewhere = free_port(), free_port()
    p = subprocess.Popen(
        memhound_cmd(
            "soak",
            "--url",
            f"http://127.0.0.1:{port}/",
            "--serve",
            serve_cmd(tmp_path, elsewhere),
            "-n",
            "50",
            "-o",
            str(tmp_path / "r"),
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    squatter = socket.socket()
    started = None
    try:
        assert p.stderr is not None
        said = ""
        while not (started := re.search(r"started the server \(pid (\d+)\)", said)):
            line = p.stderr.readline()
            assert line, said
            said += line
        squatter.bind(("127.0.0.1", port))  # after memhound checked that the port was free
        squatter.listen(16)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.communicate()
        squatter.close()
        if started and not gone(int(started.group(1))):  # memhound did not stop it
            with contextlib.suppress(ProcessLookupError):  # or it ended just now
                os.killpg(int(started.group(1)), signal.SIGKILL)
    assert p.returncode == 2, err
    assert (
        f"http://127.0.0.1:{port} is answered by a process the --serve command did not start "
        f"(pid {os.getpid()}:" in err
    )
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while not gone(int(started.group(1))):  # the server it started is stopped
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_server_ending_on_its_own_is_not_told_killed_by_memhounds_signal(
    tmp_path: Path,
) -> None:
    """memhound's measurement signal reaching a server as it shuts down on its own (Python
    puts the default action back then: death, for a real-time signal) turned an exit into
    'the server was killed by signal 40'."""
    from memhound.workflows.soak.server import MEASURE_SIGNAL, Server

    script = tmp_path / "ending.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, time
            class Last:  # collected at the interpreter's very end, after atexit
                def __del__(self, write=os.write, sleep=time.sleep):
                    write(1, b"ending\\n")
                    sleep(1.0)
            LAST = Last()
            """
        )
    )
    log = tmp_path / "server.log"
    server = Server.start(f"{shlex.quote(sys.executable)} {script}", log=log, snapshot_dir=None)
    try:
        deadline = time.monotonic() + 30
        while b"ending" not in log.read_bytes():
            assert server.alive() and time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        os.kill(server.root, MEASURE_SIGNAL)
        assert server.popen is not None
        server.popen.wait(timeout=30)
        told = server.exit_description()
        assert told is not None and told.startswith("the server exited with status 0"), told
    finally:
        server.stop()
