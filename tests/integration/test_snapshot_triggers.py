"""Heap snapshots from running programs: agent triggers and `memhound snapshot --pid`."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from memhound.analysis.summary import load_run
from tests.conftest import memhound_cmd, mh

JOB = """
    import sys, time
    class Order:
        def __init__(self, n):
            self.n = n
    ORDERS = [Order(i) for i in range(3000)]
    print("ready", flush=True)
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
    BIG = [bytearray(1 << 20) for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 0)]
    time.sleep(0.8 if len(sys.argv) > 2 else 0)
"""


@pytest.fixture()
def job(in_tmp: Path) -> str:
    path = in_tmp / "job.py"
    path.write_text(textwrap.dedent(JOB))
    return str(path)


def target_pid(run_dir: Path) -> int:
    """The child's pid, once memhound has written it to run.json (just after starting it: the
    child may already have printed its first line)."""
    deadline = time.monotonic() + 20
    while True:
        meta = json.loads((run_dir / "run.json").read_text())["meta"]
        if isinstance(meta.get("target_pid"), int) or time.monotonic() > deadline:
            return int(meta["target_pid"])
        time.sleep(0.02)


def orders_in(path: str) -> int:
    res = mh("heap", "summary", path, "--json", "--top", "100000")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)["classes"]
    return sum(r["count"] for r in rows if r["class_name"] == "__main__.Order")


def test_at_exit_and_every(in_tmp: Path, job: str) -> None:
    res = mh(
        "run",
        "-o",
        "r",
        "--snapshot-at-exit",
        "--snapshot-every",
        "300ms",
        "--",
        sys.executable,
        job,
        "1.0",
    )
    assert res.returncode == 0, res.stderr
    run = load_run(in_tmp / "r")
    reasons = [s.reason for s in run.timeline.snapshots]
    assert "exit" in reasons and reasons.count("interval") >= 1, reasons
    assert all(s.error is None for s in run.timeline.snapshots)
    exit_snap = next(s for s in run.timeline.snapshots if s.reason == "exit")
    assert exit_snap.path and (os.stat(exit_snap.path).st_mode & 0o777) == 0o600
    assert orders_in(exit_snap.path) == 3000
    assert "heap snapshots" in res.stderr and "exit:" in res.stderr


def test_threshold(in_tmp: Path, job: str) -> None:
    res = mh(
        "run",
        "-q",
        "-o",
        "r",
        "--snapshot-above",
        "150MiB",
        "--",
        sys.executable,
        job,
        "0.1",
        "200",
    )
    assert res.returncode == 0, res.stderr
    snaps = load_run(in_tmp / "r").timeline.snapshots
    assert [s.reason for s in snaps] == ["threshold"]


def test_a_threshold_snapshot_under_way_at_exit_is_finished(in_tmp: Path) -> None:
    """The program crosses the threshold and ends while the snapshot is being written: the
    agent finishes it before the interpreter shuts down (it used to be cut off, a .tmp left)."""
    quick = in_tmp / "quick.py"
    quick.write_text(
        textwrap.dedent(
            """
            import time
            ROWS = [{"n": i} for i in range(400_000)]  # a heap that takes a while to walk
            BIG = [bytearray(1 << 20) for _ in range(200)]
            time.sleep(0.6)  # the agent checks every 0.2 s: it starts the snapshot, then we end
            """
        )
    )
    res = mh("run", "-q", "-o", "r", "--snapshot-above", "150MiB", "--", sys.executable, str(quick))
    assert res.returncode == 0, res.stderr
    snaps = load_run(in_tmp / "r").timeline.snapshots
    assert [s.reason for s in snaps] == ["threshold"] and snaps[0].error is None
    assert snaps[0].path and os.path.exists(snaps[0].path)
    assert not list((in_tmp / "r").rglob("*.tmp"))


def test_threshold_crossed_during_an_interval_snapshot(in_tmp: Path) -> None:
    """With --snapshot-every too, the program crosses the threshold while an interval snapshot
    is being written, and ends: the threshold snapshot was dropped silently (the snapshot
    thread cleared the threshold, then found the program ending and took nothing). The
    program's base heap stays under the threshold even with the writer's memory added."""
    crossing = in_tmp / "crossing.py"
    crossing.write_text(
        textwrap.dedent(
            """
            import os, time
            ROWS = [{"n": i, "s": str(i)} for i in range(400_000)]  # about 140 MiB RSS
            where = os.environ["MEMHOUND_SNAPSHOT_DIR"]
            deadline = time.monotonic() + 60
            while not any(n.endswith(".tmp") for n in os.listdir(where)):  # being written
                assert time.monotonic() < deadline, "no interval snapshot"
                time.sleep(0.002)
            BIG = [bytearray(1 << 20) for _ in range(200)]  # about 420 MiB RSS, then the end
            """
        )
    )
    res = mh(
        "run",
        "-q",
        "-o",
        "r",
        "--snapshot-above",
        "330MiB",
        "--snapshot-every",
        "300ms",
        "--",
        sys.executable,
        str(crossing),
    )
    assert res.returncode == 0, res.stderr
    snaps = load_run(in_tmp / "r").timeline.snapshots
    reasons = [s.reason for s in snaps]
    assert reasons.count("threshold") == 1 and "interval" in reasons, reasons
    assert all(s.error is None for s in snaps)
    assert not list((in_tmp / "r").rglob("*.tmp"))


def test_threshold_as_a_share_of_the_limit(in_tmp: Path, job: str) -> None:
    res = mh(
        "run",
        "-q",
        "-o",
        "r",
        "--limit",
        "200MiB",
        "--snapshot-above",
        "75%",
        "--",
        sys.executable,
        job,
        "0.1",
        "200",
    )
    assert res.returncode == 0, res.stderr
    assert [s.reason for s in load_run(in_tmp / "r").timeline.snapshots] == ["threshold"]
    bad = mh("run", "--snapshot-above", "75%", "--", sys.executable, "-c", "pass")
    # Where no cgroup limit is readable the user is told to give --limit.
    assert bad.returncode == 0 or "no memory limit known" in bad.stderr


def test_on_signal_and_snapshot_pid(in_tmp: Path, job: str) -> None:
    p = subprocess.Popen(
        memhound_cmd(
            "run", "-q", "-o", "r", "--snapshot-on-signal", "--", sys.executable, job, "20"
        ),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        target = target_pid(in_tmp / "r")
        res = mh("snapshot", "--pid", str(target), "-o", str(in_tmp / "asked.heapsnapshot"))
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == str(in_tmp / "asked.heapsnapshot")
        assert orders_in(str(in_tmp / "asked.heapsnapshot")) == 3000
        os.kill(target, 0)  # still running
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
    reasons = [s.reason for s in load_run(in_tmp / "r").timeline.snapshots]
    assert reasons == ["signal"]


def test_snapshot_pid_of_a_server_soak_started(in_tmp: Path, job: str) -> None:
    """A process started by `memhound soak --serve` (its snapshot signal a real-time one,
    written as a number) is snapshotted through its agent: snapshot --pid read only signal
    names and failed on it (AttributeError: module 'signal' has no attribute '41')."""
    from memhound.agent import contract
    from memhound.workflows.soak.server import SNAPSHOT_SIGNAL, Server

    snapshots = in_tmp / "snapshots"
    snapshots.mkdir(mode=0o700)
    log = in_tmp / "server.log"
    server = Server.start(
        f"{shlex.quote(sys.executable)} {shlex.quote(job)} 30", log=log, snapshot_dir=snapshots
    )
    try:
        deadline = time.monotonic() + 30
        while b"ready" not in log.read_bytes():  # the agent's handler is set before main runs
            assert server.alive() and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        env = Path(f"/proc/{server.root}/environ").read_bytes().split(b"\0")
        name = contract.ENV_SNAPSHOT_SIGNAL.encode()
        assert f"{name.decode()}={SNAPSHOT_SIGNAL}".encode() in env  # as soak writes it
        out = in_tmp / "asked.heapsnapshot"
        res = mh("snapshot", "--pid", str(server.root), "-o", str(out))
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == str(out)
        assert orders_in(str(out)) == 3000
        assert server.alive()  # the signal was the agent's, not a killing one
    finally:
        server.stop()


def _debugger() -> bool:
    from memhound.workflows.attach import _find_lldb

    return shutil.which("gdb") is not None or _find_lldb() is not None


@pytest.mark.skipif(
    not _debugger() or os.geteuid() != 0,
    reason="needs gdb or lldb, and ptrace rights (root here)",
)
def test_snapshot_pid_injects_through_a_launcher(in_tmp: Path, job: str) -> None:
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f'"{sys.executable}" {job} 6'], stdout=subprocess.PIPE, text=True
    )
    try:
        assert shell.stdout is not None and shell.stdout.readline().strip() == "ready"
        out = in_tmp / "injected.heapsnapshot"
        res = mh("snapshot", "--pid", str(shell.pid), "-o", str(out))
        assert res.returncode == 0, res.stderr
        assert orders_in(str(out)) == 3000
        assert (out.stat().st_mode & 0o777) == 0o600
        assert shell.poll() is None  # the program goes on
        # and is not left stuck (gdb 13 on a CPU with AMX left it waiting on the GIL)
        assert shell.wait(timeout=60) == 0
    finally:
        shell.kill()
        shell.wait()
        for child in Path("/proc").glob("[0-9]*"):
            try:
                if job in (child / "cmdline").read_text():
                    os.kill(int(child.name), signal.SIGKILL)
            except OSError:
                continue
        shell.stdout.close()  # type: ignore[union-attr]


def test_snapshot_pid_errors(in_tmp: Path) -> None:
    res = mh("snapshot", "--pid", "999999999")
    assert res.returncode == 2 and "no process with pid 999999999" in res.stderr
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        res = mh("snapshot", "--pid", str(sleeper.pid))
        assert res.returncode == 2 and "no Python process in the tree" in res.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
    time.sleep(0)


def test_snapshots_need_the_agent(in_tmp: Path) -> None:
    res = mh("run", "--no-agent", "--snapshot-at-exit", "--", sys.executable, "-c", "pass")
    assert res.returncode == 2 and "taken by the agent" in res.stderr


def test_a_signal_during_a_snapshot_is_skipped_not_fatal(in_tmp: Path) -> None:
    big = in_tmp / "big.py"
    big.write_text(
        textwrap.dedent("""
        import time
        DATA = [{"n": i, "s": str(i)} for i in range(200_000)]
        print("ready", flush=True)
        deadline = time.time() + 6
        while time.time() < deadline:
            time.sleep(0.01)
        print("finished", flush=True)
    """)
    )
    p = subprocess.Popen(
        memhound_cmd(
            "run", "-q", "-o", "r", "--snapshot-on-signal", "--", sys.executable, str(big)
        ),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    target = target_pid(in_tmp / "r")
    os.kill(target, signal.SIGUSR2)
    time.sleep(0.3)  # the first snapshot of 600k objects is still being walked
    os.kill(target, signal.SIGUSR2)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0 and out.strip() == "finished"
    snaps = load_run(in_tmp / "r").timeline.snapshots
    assert 1 <= len(snaps) <= 2 and all(s.error is None for s in snaps)
    for s in snaps:
        assert s.path is not None and mh("heap", "summary", s.path, "--top", "1").returncode == 0


SECRET_JOB = """
    import sys, time
    class Order:
        def __init__(self, n):
            self.n = n
    ORDERS = [Order(i) for i in range(3000)]
    TOKEN = "".join(["s3cr3t", "-value-", str(6 * 7)])  # made at run time
    print("ready", flush=True)
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
"""


@pytest.mark.parametrize("redact", [True, False])
def test_snapshots_from_the_cli_can_be_redacted(in_tmp: Path, redact: bool) -> None:
    # only memhound.snapshot(redact_strings=True) could redact; run, snapshot --pid and soak
    # wrote every token in full
    (in_tmp / "job.py").write_text(textwrap.dedent(SECRET_JOB))
    flags = ["--redact-strings"] if redact else []
    res = mh("run", "-q", "-o", "r", "--snapshot-at-exit", *flags, "--", sys.executable, "job.py")
    assert res.returncode == 0, res.stderr
    (snap,) = (in_tmp / "r" / "snapshots").glob("*-exit.heapsnapshot")
    assert (b"s3cr3t-value-42" in snap.read_bytes()) is not redact
    assert orders_in(str(snap)) == 3000  # still a useful snapshot


def test_redact_strings_is_refused_where_it_cannot_apply(in_tmp: Path, job: str) -> None:
    res = mh("run", "--redact-strings", "--", sys.executable, "-c", "pass")
    assert res.returncode == 2 and "applies to heap snapshots" in res.stderr
    p = subprocess.Popen(
        memhound_cmd(
            "run", "-q", "-o", "r", "--snapshot-on-signal", "--", sys.executable, job, "20"
        ),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        target = target_pid(in_tmp / "r")
        res = mh("snapshot", "--pid", str(target), "--redact-strings")
        assert res.returncode == 2, res.stderr
        assert "started without --redact-strings" in res.stderr
        assert not list((in_tmp / "r" / "snapshots").iterdir())  # nothing written in full
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)


@pytest.mark.skipif(
    not _debugger() or os.geteuid() != 0,
    reason="needs gdb or lldb, and ptrace rights (root here)",
)
def test_snapshot_pid_injected_can_be_redacted(in_tmp: Path) -> None:
    (in_tmp / "job.py").write_text(textwrap.dedent(SECRET_JOB))
    target = subprocess.Popen(
        [sys.executable, "job.py", "20"], stdout=subprocess.PIPE, text=True, cwd=in_tmp
    )
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        out = in_tmp / "injected.heapsnapshot"
        res = mh("snapshot", "--pid", str(target.pid), "-o", str(out), "--redact-strings")
        assert res.returncode == 0, res.stderr
        assert b"s3cr3t-value-42" not in out.read_bytes()
        assert orders_in(str(out)) == 3000
    finally:
        target.kill()
        target.communicate()
