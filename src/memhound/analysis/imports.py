"""Import-cost trees from the probe's records: ``(records) -> ImportReport`` and views of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memhound.model.imports import OWN_CODE, STDLIB, ImportNode, ImportReport

ROOT = "__main__"


def build_report(
    target: tuple[str, ...], timed: dict[str, Any], traced: dict[str, Any] | None
) -> ImportReport:
    """Merge the probe's timed run (time, RSS) with its traced run (Python heap), if any.

    Both runs import the same modules in a fresh interpreter; the traced figures are matched
    by module name (a module the traced run did not import gets none).
    """
    records = timed.get("records", [])
    traced_by_name: dict[str, int | None] = {}
    if traced is not None:
        traced_by_name = {r["name"]: r.get("traced_bytes") for r in traced.get("records", [])}
    stdlib = set(timed.get("stdlib", ()))
    dists: dict[str, str] = timed.get("distributions", {})
    also: dict[str, list[str]] = timed.get("also_imported_by", {})
    names = {r["name"] for r in records}
    children: dict[str, list[str]] = {}
    for r in records:
        parent = r["parent"] if r["parent"] in names else ROOT
        children.setdefault(parent, []).append(r["name"])

    nodes = []
    by_name = {r["name"]: r for r in records}
    for r in records:
        kids = children.get(r["name"], [])
        t_in = traced_by_name.get(r["name"]) if traced is not None else None
        kids_traced = [traced_by_name.get(k) for k in kids]
        self_traced = None
        if t_in is not None:
            self_traced = t_in - sum(k for k in kids_traced if k is not None)
        nodes.append(
            ImportNode(
                name=r["name"],
                parent=r["parent"] if r["parent"] in names else None,
                origin=r.get("origin"),
                distribution=_distribution(r["name"], stdlib, dists),
                time_s=float(r.get("time_s", 0.0)),
                rss_bytes=int(r.get("rss_bytes", 0)),
                traced_bytes=t_in,
                self_time_s=max(
                    0.0, float(r.get("time_s", 0.0)) - sum(by_name[k]["time_s"] for k in kids)
                ),
                self_rss_bytes=max(
                    0, int(r.get("rss_bytes", 0)) - sum(by_name[k]["rss_bytes"] for k in kids)
                ),
                self_traced_bytes=self_traced,
                children=tuple(kids),
                also_imported_by=tuple(also.get(r["name"], ())),
                failed=bool(r.get("failed", False)),
            )
        )
    status = timed.get("status", {})
    error = status.get("error")
    if status.get("failed_modules"):
        error = "; ".join(f"{k}: {v}" for k, v in status["failed_modules"].items())
    if status.get("exit") not in (None, "None", "0"):
        error = error or f"exited with {status['exit']}"
    return ImportReport(
        target=target,
        python=str(timed.get("python", "")),
        executable=str(timed.get("executable", "")),
        ok=bool(status.get("ok", True)),
        error=error,
        total_time_s=float(timed.get("total_time_s", 0.0)),
        rss_start_bytes=int(timed.get("rss_start_bytes", 0)),
        rss_end_bytes=int(timed.get("rss_end_bytes", 0)),
        traced=traced is not None,
        preloaded=tuple(timed.get("preloaded", ())),
        roots=tuple(children.get(ROOT, [])),
        nodes=tuple(nodes),
    )


def _distribution(name: str, stdlib: set[str], dists: dict[str, str]) -> str:
    top = name.split(".")[0]
    if name in dists:
        return dists[name]
    if top in stdlib or (top.startswith("_") and top.lstrip("_") in stdlib):
        return STDLIB
    return OWN_CODE


METRICS = ("rss", "traced", "time")


def metric(node: ImportNode, which: str, *, own: bool = False) -> float:
    """The inclusive (or, with ``own``, exclusive) figure ``which`` of a node; 0 if unknown."""
    if which == "rss":
        return node.self_rss_bytes if own else node.rss_bytes
    if which == "traced":
        value = node.self_traced_bytes if own else node.traced_bytes
        return float(value or 0)
    return node.self_time_s if own else node.time_s


@dataclass(frozen=True)
class Line:
    """One visible line of the pruned tree."""

    node: ImportNode
    depth: int
    hidden_children: int


def visible_tree(
    report: ImportReport, *, sort: str = "rss", cutoff: float = 0.0, top: int | None = None
) -> list[Line]:
    """Depth-first lines of the tree, children sorted by ``sort`` (biggest first); nodes
    whose figure is below ``cutoff`` are folded into their parent's "hidden" count, and
    only the ``top`` biggest roots are shown."""
    by_name = {n.name: n for n in report.nodes}
    out: list[Line] = []

    def ordered(names: tuple[str, ...]) -> list[ImportNode]:
        return sorted((by_name[n] for n in names), key=lambda n: metric(n, sort), reverse=True)

    def walk(node: ImportNode, depth: int) -> None:
        kids = ordered(node.children)
        shown = [k for k in kids if metric(k, sort) >= cutoff]
        out.append(Line(node, depth, len(kids) - len(shown)))
        for k in shown:
            walk(k, depth + 1)

    roots = [r for r in ordered(report.roots) if metric(r, sort) >= cutoff]
    for r in roots[:top] if top else roots:
        walk(r, 0)
    return out


@dataclass(frozen=True)
class DistributionCost:
    distribution: str
    modules: int
    rss_bytes: int
    traced_bytes: int | None
    time_s: float


def by_distribution(report: ImportReport) -> list[DistributionCost]:
    """Exclusive figures summed per distribution (``<stdlib>``, ``<your code>``, or the
    installed distribution's name), biggest RSS first."""
    acc: dict[str, list[Any]] = {}
    for n in report.nodes:
        row = acc.setdefault(n.distribution, [0, 0, None, 0.0])
        row[0] += 1
        row[1] += n.self_rss_bytes
        if n.self_traced_bytes is not None:
            row[2] = (row[2] or 0) + n.self_traced_bytes
        row[3] += n.self_time_s
    rows = [DistributionCost(d, r[0], r[1], r[2], r[3]) for d, r in acc.items()]
    rows.sort(key=lambda r: (r.rss_bytes, r.traced_bytes or 0), reverse=True)
    return rows
