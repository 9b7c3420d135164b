"""memhound.memory() and checkpoint() on real allocations and real processes."""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys
import tracemalloc

import pytest

import memhound
from memhound.errors import AccessDenied, ProcessNotFound

MiB = 1024 * 1024


def touched(n: int) -> bytearray:
    buf = bytearray(n)
    for i in range(0, n, 4096):
        buf[i] = 1
    return buf


def test_reading_of_this_process_tracks_a_real_allocation() -> None:
    # This runs inside pytest, after other tests: an automatic collection during the window
    # could free their leftovers and hand memory back (CI once saw +26 MiB for the 100 MiB).
    gc.collect()
    gc.disable()
    try:
        before = memhound.memory()
        buf = touched(100 * MiB)
        after = memhound.memory()
        del buf
    finally:
        gc.enable()
    grew = after.rss_bytes - before.rss_bytes
    assert 95 * MiB <= grew <= 110 * MiB
    assert after.pss_bytes is not None and after.uss_bytes is not None
    assert after.uss_bytes - before.uss_bytes >= 95 * MiB
    assert after.peak_rss_bytes is not None and after.peak_rss_bytes >= after.rss_bytes
    assert after.pid == os.getpid()
    assert after.gc_counts is not None and after.gc_tracked_objects is not None
    assert after.gc_tracked_objects > 1000
    assert after.threads is not None and after.threads >= 1
    assert after.open_fds is not None and after.open_fds >= 3
    assert after.traced_current_bytes is None  # not tracing


def test_reading_includes_the_python_heap_when_tracing() -> None:
    tracemalloc.start()
    try:
        data = [object() for _ in range(50_000)]
        r = memhound.memory(count_objects=False)
    finally:
        tracemalloc.stop()
    assert r.traced_current_bytes is not None and r.traced_peak_bytes is not None
    assert r.traced_current_bytes >= 50_000 * 16
    assert r.gc_tracked_objects is None
    del data


def test_str_is_one_labelled_line() -> None:
    text = str(memhound.memory())
    assert "\n" not in text
    for label in ("rss ", "pss ", "uss ", "swap ", "MiB", "threads ", "fds "):
        assert label in text


def test_reading_of_another_process() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; b = b'x' * (60 << 20); print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        r = memhound.memory(child.pid)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    assert r.pid == child.pid
    assert r.rss_bytes >= 60 * MiB
    assert r.pss_bytes is not None and r.pss_bytes >= 55 * MiB
    # What only the interpreter itself knows is not guessed for another process.
    assert r.gc_counts is None and r.traced_current_bytes is None


def test_dead_pid_raises_a_clear_error() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ProcessNotFound, match=f"no process with pid {child.pid}"):
        memhound.memory(child.pid)
    with pytest.raises(ProcessNotFound):
        memhound.memory(-3)


def test_zombie_is_not_read_as_zero() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # Not reaped yet: a zombie. Wait until it has exited.
    import time

    deadline = time.monotonic() + 30
    while True:
        with open(f"/proc/{child.pid}/stat") as fh:
            if fh.read().split(")")[-1].split()[0] == "Z":
                break
        assert time.monotonic() < deadline, "the child did not exit within 30 s"
        time.sleep(0.01)
    try:
        with pytest.raises(ProcessNotFound, match="exited"):
            memhound.memory(child.pid)
    finally:
        child.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_pid_we_may_not_read_raises_access_denied() -> None:
    """A forked child drops to user nobody and reads pid 1: AccessDenied, not zeros."""
    from memhound.probes import measure  # load everything before dropping privileges

    assert measure.memory is memhound.memory
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                memhound.memory(1)
                msg = "read it"
            except AccessDenied as exc:
                msg = f"denied: {exc}"
            except Exception as exc:
                msg = f"other: {exc!r}"
            os.write(write_fd, msg.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        msg = fh.read().decode()
    os.waitpid(pid, 0)
    assert msg.startswith("denied: not allowed to read"), msg
    assert "hint:" in msg


def test_checkpoint_prints_and_returns_the_reading(capsys: pytest.CaptureFixture[str]) -> None:
    r = memhound.checkpoint("after query")
    err = capsys.readouterr().err
    assert err.startswith("memhound checkpoint 'after query': rss ")
    assert r.rss_bytes > 0


def test_checkpoint_output_is_configurable(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    memhound.checkpoint("quiet", output="none")
    buf = io.StringIO()
    memhound.checkpoint("to a file", output=buf)
    seen: list[str] = []
    memhound.checkpoint("callback", output=lambda label, reading: seen.append(label))
    with caplog.at_level("INFO", logger="memhound"):
        memhound.checkpoint("logged", output="log")
    monkeypatch.setenv("MEMHOUND_CHECKPOINT_OUTPUT", "stdout")
    memhound.checkpoint("env")
    out, err = capsys.readouterr()
    assert err == ""
    assert "memhound checkpoint 'env'" in out
    assert "to a file" in buf.getvalue()
    assert seen == ["callback"]
    assert any("logged" in rec.getMessage() for rec in caplog.records)
