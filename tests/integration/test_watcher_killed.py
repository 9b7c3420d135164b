"""memhound killed by SIGKILL leaves nothing behind: no job running on unwatched, no socket
directory (issue 14). A job started with --detach runs on, as asked."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from memhound.agent.contract import ENV_SOCKET
from tests.conftest import memhound_cmd, mh

JOB = (
    "import os, time\n"
    "open('started.tmp', 'w').write(str(os.getpid()))\n"
    "os.rename('started.tmp', 'started')\n"
    "time.sleep(120)\n"
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(tmp: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """memhound run of JOB in ``tmp``; (memhound, the job's pid, the agent's socket dir)."""
    env = {**os.environ, "TMPDIR": str(tmp / "tmp")}
    (tmp / "tmp").mkdir(exist_ok=True)
    watcher = subprocess.Popen(
        memhound_cmd("run", "-q", "-o", "r", *extra, "--", sys.executable, "-c", JOB),
        cwd=tmp,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (tmp / "started").exists():
        assert time.monotonic() < deadline and watcher.poll() is None
        time.sleep(0.05)
    job = int((tmp / "started").read_text())
    environ = Path(f"/proc/{job}/environ").read_bytes().split(b"\0")
    sock = next(e.split(b"=", 1)[1] for e in environ if e.startswith(ENV_SOCKET.encode() + b"="))
    return watcher, job, Path(os.fsdecode(sock)).parent


def test_the_job_and_the_socket_directory_go_with_a_killed_memhound(in_tmp: Path) -> None:
    watcher, job, sock_dir = _start(in_tmp)
    try:
        assert sock_dir.parent == in_tmp / "tmp" and sock_dir.is_dir()
        watcher.send_signal(signal.SIGKILL)
        watcher.wait()
        deadline = time.monotonic() + 10
        while _alive(job):  # it was re-parented to PID 1 and ran on
            assert time.monotonic() < deadline, "the job outlived its killed watcher"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(job, signal.SIGKILL)
    assert sock_dir.is_dir()  # nobody could clean it: the next memhound does
    res = mh(
        "run",
        "-q",
        "-o",
        "r2",
        "--",
        sys.executable,
        "-c",
        "pass",
        cwd=in_tmp,
        env={**os.environ, "TMPDIR": str(in_tmp / "tmp")},
    )
    assert res.returncode == 0, res.stderr
    assert list((in_tmp / "tmp").iterdir()) == []


def test_a_detached_job_runs_on(in_tmp: Path) -> None:
    watcher, job, _ = _start(in_tmp, "--detach")
    try:
        watcher.send_signal(signal.SIGKILL)
        watcher.wait()
        time.sleep(1)
        assert _alive(job)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(job, signal.SIGKILL)


def test_a_live_memhounds_socket_is_not_swept(in_tmp: Path) -> None:
    watcher, job, sock_dir = _start(in_tmp)
    try:
        res = mh(
            "run",
            "-q",
            "-o",
            "r2",
            "--",
            sys.executable,
            "-c",
            "pass",
            cwd=in_tmp,
            env={**os.environ, "TMPDIR": str(in_tmp / "tmp")},
        )
        assert res.returncode == 0, res.stderr
        assert (sock_dir / "agent.sock").exists()
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=30)
    assert not _alive(job)
