"""`memhound run --resource-stacks`: what a Python program left open, and where it was made."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from memhound.analysis.summary import load_run
from tests.conftest import mh
from tests.servers import Postgres


def test_open_at_exit_with_creation_lines(in_tmp: Path, postgres: Postgres) -> None:
    job = in_tmp / "job.py"
    job.write_text(
        textwrap.dedent(f"""
        import os, socket, threading
        import psycopg
        from sqlalchemy import create_engine, text
        KEEP = []
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        KEEP.append(server)
        KEEP.append(open(os.devnull))
        KEEP.append(psycopg.connect({postgres.dsn!r}))
        engine = create_engine(f"sqlite:///{in_tmp}/db.sqlite")
        KEEP.append(engine.connect())
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True, name="stuck").start()
        with open(os.devnull) as closed_properly:
            pass
    """)
    )
    lines = job.read_text().splitlines()

    def line(text: str) -> int:
        return next(i for i, src in enumerate(lines, 1) if text in src)

    res = mh("run", "-o", "r", "--resource-stacks", "--", sys.executable, str(job))
    assert res.returncode == 0, res.stderr
    run = load_run(in_tmp / "r")
    items = [i for group in run.timeline.open_at_exit for i in group.items]
    kinds = sorted(i.kind for i in items)
    assert kinds == ["file", "postgres", "socket", "sqlalchemy", "thread"], items
    out = res.stderr
    assert "still open when the Python processes exited" in out
    assert f"job.py:{line('server = socket.socket()')}" in out
    assert f"file '/dev/null' (rb), created at {job}:{line('KEEP.append(open(')}" in out
    assert f"created at {job}:{line('psycopg.connect(')}" in out
    assert "SQLAlchemy connection to sqlite:///" in out
    stuck = line('name="stuck"')
    assert f"thread 'stuck' (daemon), created at {job}:{stuck}" in out
    assert "_memhound_agent" not in out


def test_resource_stacks_need_the_agent(in_tmp: Path) -> None:
    res = mh("run", "--resource-stacks", "--no-agent", "--", sys.executable, "-c", "pass")
    assert res.returncode == 2 and "needs the agent" in res.stderr
