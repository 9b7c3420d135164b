"""Import-cost reports: an indented tree for the terminal, JSON, and an HTML icicle chart."""

from __future__ import annotations

import json
import shlex

from memhound.analysis.imports import by_distribution, metric, visible_tree
from memhound.model.imports import ImportReport
from memhound.units import format_bytes


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _header(report: ImportReport) -> str:
    mods = len(report.nodes)
    grew = report.rss_end_bytes - report.rss_start_bytes
    traced = ""
    if report.traced:
        total = sum(n.traced_bytes or 0 for n in report.nodes if n.parent is None)
        traced = f", {format_bytes(total)} Python heap"
    head = (
        f"memhound imports: {shlex.join(report.target)}\n"
        f"  Python {report.python}: {mods} modules imported in {_ms(report.total_time_s)}, "
        f"RSS {format_bytes(grew, signed=True)}{traced} "
        f"(before: {format_bytes(report.rss_start_bytes)} with "
        f"{len(report.preloaded)} start-up modules)\n"
    )
    if not report.ok:
        head += f"  target failed: {report.error}\n"
    return head


class ImportsTextReporter:
    """``name: 12.3 MiB`` lines, indented by depth, children biggest first."""

    def __init__(
        self,
        *,
        sort: str = "rss",
        cutoff: float = 0.0,
        top: int | None = None,
        by_distribution: bool = False,
    ) -> None:
        self.sort = sort
        self.cutoff = cutoff
        self.top = top
        self.group = by_distribution

    def _value(self, value: float) -> str:
        return _ms(value) if self.sort == "time" else format_bytes(value)

    def render(self, report: ImportReport) -> str:
        out = [_header(report)]
        if self.group:
            out.append(
                f"  {'distribution':<32} {'modules':>7} {'RSS':>11} {'Python heap':>12} "
                f"{'time':>10}\n"
            )
            for row in by_distribution(report):
                out.append(
                    f"  {row.distribution:<32} {row.modules:>7} {format_bytes(row.rss_bytes):>11} "
                    f"{format_bytes(row.traced_bytes):>12} {_ms(row.time_s):>10}\n"
                )
            return "".join(out)
        what = {"rss": "RSS", "traced": "Python heap", "time": "time"}[self.sort]
        out.append(f"  by {what}, inclusive (self in brackets)\n")
        for line in visible_tree(report, sort=self.sort, cutoff=self.cutoff, top=self.top):
            n = line.node
            extra = []
            if self.sort != "rss":
                extra.append(f"RSS {format_bytes(n.rss_bytes)}")
            if self.sort != "traced" and n.traced_bytes is not None:
                extra.append(f"heap {format_bytes(n.traced_bytes)}")
            if self.sort != "time":
                extra.append(_ms(n.time_s))
            if line.hidden_children:
                extra.append(f"+{line.hidden_children} smaller")
            if n.also_imported_by:
                shown = ", ".join(n.also_imported_by[:3])
                more = len(n.also_imported_by) - 3
                extra.append(f"also imported by {shown}" + (f" +{more}" if more > 0 else ""))
            if n.failed:
                extra.append("FAILED")
            out.append(
                f"{'  ' * (line.depth + 1)}{n.name}: {self._value(metric(n, self.sort))} "
                f"({self._value(metric(n, self.sort, own=True))})  " + "  ".join(extra) + "\n"
            )
        return "".join(out)


class ImportsJsonReporter:
    def render(self, report: ImportReport) -> str:
        data = report.to_dict()
        data["by_distribution"] = [
            {
                "distribution": r.distribution,
                "modules": r.modules,
                "rss_bytes": r.rss_bytes,
                "traced_bytes": r.traced_bytes,
                "time_s": r.time_s,
            }
            for r in by_distribution(report)
        ]
        return json.dumps(data, indent=1) + "\n"


class ImportsHtmlReporter:
    """An icicle chart (Plotly) of the tree; buttons switch between RSS, heap and time."""

    def render(self, report: ImportReport) -> str:
        from memhound.reporters._page import escape, fill_template, safe_json

        ids = ["(all)"]
        labels = ["all imports"]
        parents = [""]
        values: dict[str, list[float]] = {"rss": [0.0], "traced": [0.0], "time": [0.0]}
        for n in report.nodes:
            ids.append(n.name)
            labels.append(n.name.rsplit(".", 1)[-1] if n.parent else n.name)
            parents.append(n.parent or "(all)")
            for key in values:
                values[key].append(max(0.0, metric(n, key, own=True)))
        data = {
            "ids": ids,
            "labels": labels,
            "parents": parents,
            "values": values,
            "units": {"rss": "bytes", "traced": "bytes", "time": "s"},
        }
        title = f"memhound imports: {shlex.join(report.target)}"
        return fill_template(
            "imports.html",
            {
                "TITLE": escape(title),
                "HEADER": escape(_header(report)).replace("\n", "<br>"),
                "DATA": safe_json(data),
            },
        )
