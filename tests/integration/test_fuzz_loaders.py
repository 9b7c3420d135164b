"""Damaged input ends in a result or a clear error, never a traceback (issue 14).

Real files (a run saved by ``memhound run``, a snapshot written by ``memhound.snapshot``) are
mutated at random by Hypothesis, with a fixed seed so that CI is repeatable:
``MEMHOUND_FUZZ_EXAMPLES=2000`` runs a deeper search locally. A value is replaced by another
JSON value (huge, negative, not finite, of another type), a key is dropped, the text is cut
or a byte is changed; then every reader and report of that file runs on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memhound.cli import main
from memhound.errors import MemhoundError
from tests.conftest import mh

EXAMPLES = int(os.environ.get("MEMHOUND_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.just([1, "x", None]),
)


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: the keys and indexes that lead to it."""
    out = [here]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            out += _paths(v, (*here, i))
    return out


def mutate(data: st.DataObject, text: str) -> str:
    """``text`` (one JSON document) with one thing changed. Only the small choices are drawn
    (so a failure prints them, not the whole file)."""
    how = data.draw(st.sampled_from(["replace", "drop", "cut", "byte"]), label="how")
    if how == "cut":
        return text[: data.draw(st.integers(0, len(text) - 1), label="cut at")]
    if how == "byte":
        at = data.draw(st.integers(0, len(text) - 1), label="byte at")
        new = data.draw(st.sampled_from(list('{}[],:"0-9eE.x \\')), label="new byte")
        return text[:at] + new + text[at + 1 :]
    doc = json.loads(text)
    path = data.draw(st.sampled_from(_paths(doc)), label="where")
    if not path:
        return json.dumps(data.draw(VALUES, label="value"))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if how == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(VALUES, label="value")
    return json.dumps(doc)


# -- runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("fuzz-run")
    job = where / "job.py"
    job.write_text(
        textwrap.dedent(
            """
            import gc, socket, time, memhound
            keep = []
            for i in range(4):
                keep.append(bytearray(2_000_000))
                keep.append(socket.socket())
                gc.collect()
                memhound.checkpoint(f"step {i}")
                time.sleep(0.05)
            """
        )
    )
    res = mh("run", "-q", "-o", str(where / "r"), "--interval", "20ms", "--", sys.executable, job)
    assert res.returncode == 0, res.stderr
    return where / "r"


def _report(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("text", "json", "html"):
        try:
            code = main(["report", str(run), "--format", fmt, "-o", str(run / f"out.{fmt}")])
        except MemhoundError:
            code = 2
        assert code in (0, 2)
        err = capsys.readouterr().err
        assert "Traceback" not in err


def test_a_damaged_run_json_is_reported_or_refused_clearly(
    saved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (saved_run / "run.json").read_text()

    @FUZZ
    @given(st.data())
    def check(data: st.DataObject) -> None:
        run = tmp_path / "r"
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(saved_run, run)
        (run / "run.json").write_text(mutate(data, text))
        _report(run, capsys)

    check()


def test_a_damaged_timeline_is_reported_or_refused_clearly(
    saved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (saved_run / "timeline.jsonl").read_text().splitlines()
    kinds = {json.loads(line).get("kind") for line in lines}
    assert {"sample", "checkpoint", "gc", "resources"} <= kinds  # each kind gets damaged

    @FUZZ
    @given(st.data())
    def check(data: st.DataObject) -> None:
        run = tmp_path / "r"
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(saved_run, run)
        at = data.draw(st.integers(0, len(lines) - 1), label="line")
        damaged = [*lines[:at], mutate(data, lines[at]), *lines[at + 1 :]]
        (run / "timeline.jsonl").write_text("\n".join(damaged) + "\n")
        _report(run, capsys)

    check()


# -- heap snapshots ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real snapshot of a small program, taken by memhound in a fresh interpreter with
    only the site module (``-S``): small enough to analyse a hundred times."""
    where = tmp_path_factory.mktemp("fuzz-heap") / "small.heapsnapshot"
    code = (
        "import sys; sys.path[:0] = [p for p in sys.argv[2:]]\n"
        "from memhound.heap import snapshot\n"
        "class Order: pass\n"
        "KEEP = [Order() for _ in range(50)]\n"
        "snapshot(sys.argv[1])\n"
    )
    paths = [p for p in sys.path if p]
    subprocess.run([sys.executable, "-S", "-c", code, str(where), *paths], check=True)
    return where.read_text()


def test_a_damaged_snapshot_is_analysed_or_refused_clearly(
    small_snapshot: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.heapsnapshot"

    @FUZZ
    @given(st.data())
    def check(data: st.DataObject) -> None:
        path.write_text(mutate(data, small_snapshot))
        for args in (
            ["summary", "--json"],
            ["dominators"],
            ["retainers", "--type", "Order"],
        ):
            try:
                code = main(["heap", args[0], str(path), *args[1:]])
            except MemhoundError:
                code = 2
            assert code in (0, 2)
            assert "Traceback" not in capsys.readouterr().err

    check()
