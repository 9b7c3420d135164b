"""The registry from result kind to loader and reporters (reporters.KINDS), on hand-built runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memhound import reporters
from memhound.analysis.summary import load_run
from memhound.errors import RunFormatError, UsageError
from memhound.model.run import open_run
from memhound.model.timeline import ProcSample, Sample


def test_every_kind_names_a_loader_and_three_reporters_that_exist() -> None:
    for kind, entry in reporters.KINDS.items():
        for ref in (entry.load, entry.text, entry.json, entry.html):
            assert callable(reporters._named(ref)), f"{kind}: {ref}"


def saved_run(tmp_path: Path, kind: str = "run") -> Path:
    writer = open_run(kind, ("python", "job.py"), 0.0, output_dir=tmp_path / "r", runs_dir=tmp_path)
    for i in range(3):
        rss = (10 + i) << 20
        proc = ProcSample(
            pid=7, rss_bytes=rss, pss_bytes=rss, uss_bytes=rss, swap_bytes=0, peak_rss_bytes=rss
        )
        writer.append(Sample(float(i), rss, rss, rss, (proc,)))
    writer.finish(writer.meta, None)
    return writer.path


def test_a_run_renders_in_every_format_through_the_registry(tmp_path: Path) -> None:
    run = load_run(saved_run(tmp_path))
    assert reporters.load_result(run) is run
    text = reporters.render(run, "text")
    assert "python job.py" in text and "12.0 MiB" in text
    assert json.loads(reporters.render(run, "json"))["summary"]["peak_total_pss_bytes"] == 12 << 20
    assert reporters.render(run, "html").lower().startswith("<!doctype html>")


def test_a_kind_without_its_result_file_says_so(tmp_path: Path) -> None:
    run = load_run(saved_run(tmp_path, kind="tune"))
    with pytest.raises(RunFormatError, match=r"tune\.json"):
        reporters.load_result(run)


def test_unknown_kinds_and_formats_are_clear_errors(tmp_path: Path) -> None:
    run = load_run(saved_run(tmp_path, kind="fleet-from-the-future"))
    with pytest.raises(RunFormatError, match="unknown kind of run 'fleet-from-the-future'"):
        reporters.load_result(run)
    with pytest.raises(UsageError, match="unknown report format 'pdf'"):
        reporters.get_reporter("run", "pdf")
