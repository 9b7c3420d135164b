"""`memhound watch` on running processes, and `memhound report` on saved runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memhound.analysis.summary import load_run
from tests.conftest import mh

MiB = 1024 * 1024


def holder(mib: int, seconds: float) -> subprocess.Popen[str]:
    code = (
        f"import time, os; b = bytearray({mib} << 20)\n"
        "for i in range(0, len(b), 4096): b[i] = 1\n"
        f"print('ready', flush=True); time.sleep({seconds})"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def test_watch_for_a_duration(in_tmp: Path) -> None:
    p = holder(50, 30)
    try:
        res = mh("watch", "--pid", str(p.pid), "--duration", "1s", "-o", "w")
    finally:
        p.kill()
        p.wait()
        p.stdout.close()  # type: ignore[union-attr]
    assert res.returncode == 0, res.stderr
    run = load_run(in_tmp / "w")
    assert run.meta.kind == "watch" and run.meta.target_pid == p.pid
    assert run.summary is not None and run.summary.samples >= 10
    assert run.summary.peak_total_pss_bytes is not None
    assert run.summary.peak_total_pss_bytes >= 50 * MiB
    assert 0.9 <= run.summary.duration_s < 5
    assert (in_tmp / "w" / "report.html").exists()
    assert "memhound watch: pid" in res.stderr


def test_watch_until_the_process_ends(in_tmp: Path) -> None:
    p = holder(20, 3.0)  # alive well past memhound's start, even on a loaded machine
    try:
        res = mh("watch", "--pid", str(p.pid), "-o", "w", "--no-html")
    finally:
        p.wait()
        p.stdout.close()  # type: ignore[union-attr]
    assert res.returncode == 0, res.stderr
    run = load_run(in_tmp / "w")
    assert run.meta.status == "complete"
    assert run.summary is not None and run.summary.duration_s < 8


def test_watch_a_pid_that_does_not_exist(in_tmp: Path) -> None:
    res = mh("watch", "--pid", "999999999")
    assert res.returncode == 2
    assert "no process with pid 999999999" in res.stderr
    assert not (in_tmp / "memhound-runs").exists()


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("saved")
    job = tmp / "job.py"
    job.write_text(
        "import memhound, gc\nmemhound.checkpoint('loaded <b>data</b>', output='none')\n"
        "x = [[i] for i in range(100000)]\ngc.collect()\n"
    )
    res = mh("run", "-q", "-o", str(tmp / "run"), "--", sys.executable, str(job))
    assert res.returncode == 0, res.stderr
    return tmp / "run"


def test_report_text(saved_run: Path) -> None:
    res = mh("report", str(saved_run))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for needle in (
        "memhound run:",
        "exited with code 0",
        "peak",
        "PSS total",
        "MiB",
        "PSS over time",
        "processes (1, by peak RSS)",
        "checkpoints",
        "loaded <b>data</b>",
        "garbage collector",
        "collections gen0/gen1/gen2",
    ):
        assert needle in out, needle
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")


def test_report_json_schema(saved_run: Path) -> None:
    res = mh("report", str(saved_run), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema"] == "memhound.run-report" and doc["version"] == 1
    assert set(doc) == {"schema", "version", "run_dir", "meta", "summary", "checkpoints"}
    meta, summary = doc["meta"], doc["summary"]
    assert meta["kind"] == "run" and meta["exit"]["returncode"] == 0
    assert meta["command"][0] == sys.executable
    for key in (
        "peak_total_pss_bytes",
        "peak_t",
        "final_total_pss_bytes",
        "processes",
        "gc",
        "duration_s",
        "samples",
    ):
        assert key in summary, key
    assert isinstance(summary["peak_total_pss_bytes"], int)
    assert doc["checkpoints"][0]["label"] == "loaded <b>data</b>"
    assert doc["checkpoints"][0]["reading"]["rss_bytes"] > 0
    assert summary["gc"]["collections"][2] >= 1


def test_report_html_to_a_file(saved_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = mh("report", str(saved_run), "--format", "html", "-o", str(out))
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "loaded &lt;b&gt;data&lt;/b&gt;" in page
    assert "<b>data</b>" not in page.split("<script")[0]
    assert (out.stat().st_mode & 0o777) == 0o600


def test_report_of_something_that_is_not_a_run(tmp_path: Path) -> None:
    res = mh("report", str(tmp_path))
    assert res.returncode == 2
    assert "has no run.json" in res.stderr and "hint:" in res.stderr
    res = mh("report", str(tmp_path / "nope"))
    assert res.returncode == 2 and "is not a run directory" in res.stderr


def test_report_of_a_run_from_a_newer_memhound(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"format": "memhound.run", "version": 99}))
    res = mh("report", str(tmp_path))
    assert res.returncode == 2 and "upgrade memhound" in res.stderr


def test_live_status_only_on_a_terminal() -> None:
    import io

    from memhound.cli._common import LiveStatus
    from memhound.workflows._recording import Status

    buf = io.StringIO()
    LiveStatus(buf)(Status(1.0, 10 * MiB, 20 * MiB, 1))
    assert buf.getvalue() == ""
    live = LiveStatus(buf, enabled=True)
    live(Status(1.0, 10 * MiB, 20 * MiB, 2))
    assert "now 10.0 MiB" in buf.getvalue() and "peak 20.0 MiB" in buf.getvalue()
    assert "(2 processes)" in buf.getvalue()
    live(Status(1.0, 10 * MiB, 20 * MiB, 2, final=True))
    assert buf.getvalue().endswith("\r\x1b[K")
    time.sleep(0)
