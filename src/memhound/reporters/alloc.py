"""Allocation reports: text tables for the terminal, JSON, and HTML (tables and a Plotly icicle
of the allocation stacks)."""

from __future__ import annotations

import json
import shlex

from memhound.model.allocations import AllocReport, Breakdown, Row, confidence_95
from memhound.units import format_bytes

MEANINGS = {
    "allocated": "everything allocated in the block, also what was freed again",
    "retained": "allocated in the block and still alive after it, after a full gc",
    "peak": "the most memory allocated in the block and not yet freed, at one moment",
}


def _b(n: int | None) -> str:
    return "not measured" if n is None else format_bytes(n)


def pm(samples: int | None) -> str:
    """``±12%`` (a 95% interval) for a sampled figure, ``""`` for an exact one."""
    if samples is None:
        return ""
    if samples == 0:
        return "± ?"
    half = confidence_95(samples)
    return f"±{half * 100:.0f}%" if half < 10 else "±>999%"


def mode(report: AllocReport) -> str:
    """How the figures were obtained, in words."""
    if report.sample_interval is None:
        return "exact: every allocation counted"
    return (
        f"sampled every {format_bytes(report.sample_interval)} on average: figures are "
        "estimates, ± a 95% interval"
    )


def _est(n: int | None, samples: int | None) -> str:
    if n is None or samples is None:
        return _b(n)
    return f"~{format_bytes(n)} {pm(samples)}"


def _objects(n: int | None, sampled: bool = False) -> str:
    return "" if n is None else f"{'~' if sampled else ''}{n:,} objects"


def title(report: AllocReport) -> str:
    what = shlex.join(report.target) if report.target else "a block"
    return f"memhound profile: {what}"


def totals(report: AllocReport) -> list[tuple[str, str, str, str]]:
    """(figure, bytes, objects, meaning) rows."""
    peak_note = MEANINGS["peak"]
    if report.sampled:
        peak_note += " (the estimate's highest value)"
    return [
        (
            "allocated",
            _est(report.allocated_bytes, report.allocated_samples),
            _objects(report.allocated_count, report.sampled),
            MEANINGS["allocated"]
            if report.allocated_bytes is not None
            else "not measured by this engine",
        ),
        (
            "retained",
            _est(report.retained_bytes, report.retained_samples),
            _objects(report.retained_count, report.sampled),
            MEANINGS["retained"],
        ),
        ("peak", _est(report.peak_bytes, report.peak_samples), "", peak_note),
    ]


def sections(report: AllocReport) -> list[tuple[str, str, tuple[Row, ...] | None]]:
    """(heading, first column name, rows or None for "not measured") in report order."""
    out: list[tuple[str, str, tuple[Row, ...] | None]] = []

    def add(label: str, b: Breakdown | None, with_types: bool) -> None:
        out.append((f"{label} by package", "package", b.by_package if b else None))
        out.append((f"{label} by file", "file", b.by_file if b else None))
        out.append((f"{label} by location", "location", b.by_location if b else None))
        if with_types:
            out.append((f"{label} by type", "type", b.by_type if b else None))

    add("allocated memory", report.allocated, True)
    add("retained memory", report.retained, True)
    if report.at_peak is None:
        out.append(("at the peak, by location", "location", None))
    else:
        out.append(("at the peak, by package", "package", report.at_peak.by_package))
        out.append(("at the peak, by file", "file", report.at_peak.by_file))
        out.append(("at the peak, by location", "location", report.at_peak.by_location))
    out.append(("allocated strings", "string", report.strings_allocated))
    out.append(("retained strings", "string", None if report.sampled else report.strings_retained))
    return out


def _text_key(row: Row, limit: int = 70) -> str:
    text = row.key.encode("unicode_escape").decode("ascii") if row.key else "''"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AllocTextReporter:
    def __init__(self, *, rows: int | None = 10) -> None:
        self.rows = rows

    def render(self, report: AllocReport) -> str:
        out = [title(report) + "\n"]
        out.append(
            f"  engine {report.engine}, {report.frames} frame(s), {report.duration_s:.2f} s"
            + (f", {report.outcome}" if report.outcome else "")
            + f"\n  {mode(report)}\n\n"
        )
        for name, nbytes, objs, meaning in totals(report):
            out.append(f"  {name:<10} {nbytes:>18}  {objs:>19}   {meaning}\n")
        for heading, _col, rows in sections(report):
            out.append(f"\n{heading}\n")
            if rows is None:
                out.append(f"  ({not_measured(report)})\n")
                continue
            if not rows:
                out.append("  (none)\n")
                continue
            for row in rows[: self.rows]:
                where = f"  {row.where}" if row.where else ""
                est = f"{format_bytes(row.bytes):>11}"
                if row.samples is not None:
                    est = f"{'~' + format_bytes(row.bytes):>12} {pm(row.samples):>6}"
                out.append(f"  {est} {row.count:>10,}  {_text_key(row)}{where}\n")
        if report.notes:
            out.append("\nnotes\n")
            out.extend(f"  - {n}\n" for n in report.notes)
        return "".join(out)


def not_measured(report: AllocReport) -> str:
    return "not measured in sampled mode" if report.sampled else "not measured by this engine"


class AllocJsonReporter:
    def render(self, report: AllocReport) -> str:
        return json.dumps(report.to_dict(), indent=1) + "\n"


def icicle_data(report: AllocReport) -> dict[str, object]:
    """Nodes of the stack tree: a node per distinct call path, its own bytes as the value."""
    ids, labels, parents, hover = ["root"], ["all stacks"], [""], ["all stacks"]
    allocated, retained = [0], [0]
    index: dict[tuple[str, ...], int] = {(): 0}
    for stack in report.stacks:
        for depth in range(1, len(stack.frames) + 1):
            path = stack.frames[:depth]
            if path in index:
                continue
            index[path] = len(ids)
            ids.append(f"n{len(ids)}")
            frame = path[-1]
            where, _, func = frame.partition(" ")
            short = where.rsplit("/", 1)[-1]
            labels.append(f"{func} {short}".strip())
            parents.append(ids[index[path[:-1]]])
            hover.append(frame)
            allocated.append(0)
            retained.append(0)
        leaf = index[stack.frames]
        allocated[leaf] += stack.allocated_bytes
        retained[leaf] += stack.retained_bytes
    return {
        "ids": ids,
        "labels": labels,
        "parents": parents,
        "hover": hover,
        "values": {"allocated": allocated, "retained": retained},
        "measured": {"allocated": report.allocated_bytes is not None, "retained": True},
    }


class AllocHtmlReporter:
    def render(self, report: AllocReport) -> str:
        from memhound.reporters._page import escape, fill_template, safe_json

        head = [f"<h1>{escape(title(report))}</h1>"]
        head.append(
            f'<p class="sub">engine {escape(report.engine)}, {report.frames} frame(s), '
            f"{report.duration_s:.2f} s"
            f"{(', ' + escape(report.outcome)) if report.outcome else ''}</p>"
            f'<p class="sub" id="mode">{escape(mode(report))}</p>'
        )
        body = [
            '<table class="totals" id="totals"><thead><tr><th>figure</th><th>bytes</th>'
            "<th>objects</th><th>what it means</th></tr></thead><tbody>"
        ]
        for name, nbytes, objs, meaning in totals(report):
            body.append(
                f'<tr><th scope="row">{escape(name)}</th><td class="num">{escape(nbytes)}</td>'
                f'<td class="num">{escape(objs)}</td><td>{escape(meaning)}</td></tr>'
            )
        body.append("</tbody></table>")
        body.append(
            '<h2>allocation stacks</h2><div id="icicle" role="img" '
            'aria-label="allocation stacks"></div><p class="note">Each box is a frame '
            "of a call stack (outermost at the top); its width is what the stacks "
            "through it allocated. Click a box to zoom in.</p>"
        )
        for n, (heading, col, rows) in enumerate(sections(report)):
            body.append(f'<section class="table" id="t{n}"><h2>{escape(heading)}</h2>')
            if rows is None:
                body.append(f'<p class="na">{escape(not_measured(report))}</p></section>')
                continue
            if not rows:
                body.append('<p class="na">none</p></section>')
                continue
            where = "allocated at" if col in ("type", "string") else "function"
            est = report.sampled
            body.append(
                f"<table><thead><tr><th>{escape(col)}</th><th>bytes</th>"
                + ("<th>± (95%)</th><th>samples</th>" if est else "")
                + f"<th>objects</th><th>{where}</th></tr></thead><tbody>"
            )
            for row in rows:
                key = row.key if col != "string" else repr(row.key)
                extra = ""
                if est:
                    extra = (
                        f'<td class="num">{escape(pm(row.samples))}</td>'
                        f'<td class="num">{row.samples or 0:,}</td>'
                    )
                body.append(
                    f'<tr><td class="key">{escape(key)}</td><td class="num">'
                    f"{'~' if est else ''}{escape(format_bytes(row.bytes))}</td>{extra}"
                    f'<td class="num">{"~" if est else ""}{row.count:,}</td>'
                    f"<td>{escape(row.where)}</td></tr>"
                )
            body.append("</tbody></table></section>")
        if report.notes:
            body.append(
                "<h2>notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes)
            )
            body.append("</ul>")
        return fill_template(
            "alloc.html",
            {
                "TITLE": escape(title(report)),
                "HEADER": "".join(head),
                "BODY": "".join(body),
                "DATA": safe_json(icicle_data(report)),
            },
        )
