"""Grouping an engine's counts into the report, on hand-built data."""

from __future__ import annotations

from memhound.analysis.alloc import STDLIB, USER, GroupOptions, PathFacts, group
from memhound.model.allocations import AllocReport, EngineResult, Frame

FACTS = PathFacts(
    stdlib_dirs=("/py/lib/python3.11",),
    site_dirs=("/venv/lib/python3.11/site-packages",),
    cwd="/home/me/app",
    own_prefixes=("/venv/lib/python3.11/site-packages/memhound",),
    distributions={"yaml": "PyYAML"},
)
APP = Frame("/home/me/app/job.py", 12, "main")
LIB = Frame("/venv/lib/python3.11/site-packages/yaml/reader.py", 40, "Reader.read")
STD = Frame("/py/lib/python3.11/json/decoder.py", 353, "raw_decode")
OWN = Frame("/venv/lib/python3.11/site-packages/memhound/workflows/profile.py", 99, "stop")
FROZEN = Frame("<frozen importlib._bootstrap>", 1, "_load")


def result(**kw: object) -> EngineResult:
    base: dict[str, object] = {
        "engine": "native",
        "frames": 4,
        "sites": {
            1: (LIB, APP),
            2: (STD, APP),
            3: (APP, OWN, Frame("/venv/bin/memhound", 8, "<module>")),
            4: (OWN, APP),
            5: (FROZEN,),
        },
        "allocated": {1: (10, 1000), 2: (5, 500), 3: (2, 200), 4: (7, 7000), 5: (1, 10)},
        "retained": {1: (1, 100), 3: (2, 200)},
        "at_peak": {1: (10, 1000)},
        "peak_bytes": 1234,
        "peak_snapshot_bytes": 1200,
        "peak_margin_bytes": 65536,
        "objects": [("Reader", 1, 64), ("Reader", 1, 64), ("dict", 3, 232)],
        "strings": [("abc", 3, 52), ("abc", 3, 52), ("x", 1, 50)],
    }
    base.update(kw)
    return EngineResult(**base)  # type: ignore[arg-type]


def test_paths_packages_and_own_frames() -> None:
    r = group(result(), FACTS, GroupOptions(), duration_s=1.0)
    assert r.allocated is not None
    pkgs = {row.key: row.bytes for row in r.allocated.by_package}
    # site 4 is memhound's own allocation: dropped; site 3's memhound caller frame is dropped
    assert pkgs == {"PyYAML": 1000, STDLIB: 510, USER: 200}
    files = [row.key for row in r.allocated.by_file]
    assert "site-packages/yaml/reader.py" in files and "<stdlib>/json/decoder.py" in files
    assert "job.py" in files and "<stdlib>/importlib/_bootstrap.py" in files
    assert r.allocated_bytes == 1710 and r.allocated_count == 18
    loc = r.allocated.by_location[0]
    assert (loc.key, loc.where) == ("site-packages/yaml/reader.py:40", "Reader.read")
    assert r.retained.by_type is not None
    assert r.retained.by_type[0].key == "Reader" and r.retained.by_type[0].count == 2
    assert r.strings_retained[0].key == "abc" and r.strings_retained[0].count == 2
    assert r.strings_retained[0].where == "job.py:12"
    # memhound's frame and the launcher under it are cut from site 3's stack
    assert any(s.frames == ("job.py:12 main",) and s.retained_bytes == 200 for s in r.stacks)
    stack = next(s for s in r.stacks if s.allocated_bytes == 1000)
    assert stack.frames == ("job.py:12 main", "site-packages/yaml/reader.py:40 Reader.read")


def test_include_own_allow_ignore_and_top() -> None:
    r = group(result(), FACTS, GroupOptions(include_own=True), duration_s=1.0)
    assert r.allocated_bytes == 8710
    r = group(result(), FACTS, GroupOptions(allow=("PyYAML",)), duration_s=1.0)
    assert r.allocated is not None and [x.key for x in r.allocated.by_package] == ["PyYAML"]
    r = group(result(), FACTS, GroupOptions(ignore=("<stdlib>/*",)), duration_s=1.0)
    assert r.allocated is not None and STDLIB not in {x.key for x in r.allocated.by_package}
    assert any("filters" in n for n in r.notes)
    r = group(result(), FACTS, GroupOptions(top=1), duration_s=1.0)
    assert r.allocated is not None and len(r.allocated.by_file) == 1


def test_unmeasured_figures_stay_none_and_the_report_round_trips() -> None:
    r = group(
        result(engine="tracemalloc", allocated=None, at_peak=None, peak_margin_bytes=None),
        FACTS,
        GroupOptions(),
        duration_s=0.5,
    )
    assert r.allocated is None and r.allocated_bytes is None and r.at_peak is None
    assert AllocReport.from_dict(r.to_dict()) == r
    full = group(result(), FACTS, GroupOptions(), duration_s=0.5)
    assert AllocReport.from_dict(full.to_dict()) == full
