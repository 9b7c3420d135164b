"""Import trees from hand-built probe records."""

from __future__ import annotations

from typing import Any

from memhound.analysis.imports import build_report, by_distribution, visible_tree
from memhound.model.imports import OWN_CODE, STDLIB, ImportReport

MiB = 1024 * 1024


def rec(name: str, parent: str, rss: int, t: float, traced: int | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "parent": parent,
        "origin": f"/x/{name}.py",
        "time_s": t,
        "rss_bytes": rss,
        "traced_bytes": traced,
    }


TIMED = {
    "python": "3.11.7",
    "status": {"ok": True},
    "stdlib": ["json", "re"],
    "distributions": {"rich": "rich", "rich.console": "rich"},
    "records": [
        rec("app", "__main__", 30 * MiB, 0.5),
        rec("json", "app", 1 * MiB, 0.05),
        rec("re", "json", 512 * 1024, 0.02),
        rec("app.data", "app", 25 * MiB, 0.3),
        rec("rich", "__main__", 4 * MiB, 0.1),
        rec("rich.console", "rich", 3 * MiB, 0.08),
    ],
    "also_imported_by": {"re": ["app.data"]},
}
TRACED = {
    "records": [
        rec("app", "__main__", 0, 0, 28 * MiB),
        rec("json", "app", 0, 0, 900_000),
        rec("re", "json", 0, 0, 400_000),
        rec("app.data", "app", 0, 0, 25 * MiB),
        rec("rich", "__main__", 0, 0, 3 * MiB),
        rec("rich.console", "rich", 0, 0, 2 * MiB),
    ]
}


def report() -> ImportReport:
    return build_report(("-m", "app"), TIMED, TRACED)


def test_inclusive_and_exclusive() -> None:
    r = report()
    app = r.node("app")
    assert app.rss_bytes == 30 * MiB
    assert app.self_rss_bytes == 30 * MiB - 1 * MiB - 25 * MiB
    assert app.traced_bytes == 28 * MiB
    assert app.self_traced_bytes == 28 * MiB - 900_000 - 25 * MiB
    assert abs(app.self_time_s - 0.15) < 1e-9
    assert app.children == ("json", "app.data")
    assert r.roots == ("app", "rich")
    assert r.node("re").also_imported_by == ("app.data",)
    assert r.node("json").parent == "app" and r.node("app").parent is None


def test_distribution_of_each_module() -> None:
    r = report()
    assert r.node("json").distribution == STDLIB
    assert r.node("app.data").distribution == OWN_CODE
    assert r.node("rich.console").distribution == "rich"
    rows = {row.distribution: row for row in by_distribution(r)}
    assert rows[OWN_CODE].modules == 2 and rows[OWN_CODE].rss_bytes == 29 * MiB
    assert rows["rich"].rss_bytes == 4 * MiB and rows["rich"].traced_bytes == 3 * MiB
    assert rows[STDLIB].modules == 2


def test_visible_tree_sorts_prunes_and_counts_hidden() -> None:
    lines = visible_tree(report(), sort="rss", cutoff=2 * MiB)
    shown = [(line.node.name, line.depth, line.hidden_children) for line in lines]
    assert shown == [("app", 0, 1), ("app.data", 1, 0), ("rich", 0, 0), ("rich.console", 1, 0)]
    top1 = visible_tree(report(), sort="time", top=1)
    assert [line.node.name for line in top1 if line.depth == 0] == ["app"]


def test_untraced_report_has_no_heap_figures() -> None:
    r = build_report(("x.py",), TIMED, None)
    assert not r.traced and r.node("app").traced_bytes is None
    assert r.node("app").self_traced_bytes is None


def test_round_trip() -> None:
    r = report()
    assert ImportReport.from_dict(r.to_dict()) == r


def test_failures_are_reported() -> None:
    timed = {**TIMED, "status": {"ok": False, "error": "ImportError: no module named nope"}}
    r = build_report(("-m", "nope"), timed, None)
    assert not r.ok and r.error == "ImportError: no module named nope"
