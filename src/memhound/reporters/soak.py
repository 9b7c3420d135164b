"""The soak report page: memory against requests with the warm-up shaded and the fitted trend
drawn, then the per-endpoint table, what grows with its holder, resources, and what was left
open. Every text from the target (paths, type names, URLs) is escaped.

An inconclusive soak (``leak`` None) says so first, with its reason, and never reads as "no
leak": its figures are shown as measured, not as a verdict."""

from __future__ import annotations

import json
import statistics

from memhound.leaks.detect import MIN_POINTS
from memhound.model.verdict import ResourceVerdict, SoakResult
from memhound.units import format_bytes


def _trend(result: SoakResult) -> tuple[list[int], list[float]]:
    """The fitted line over the judged part of the series: the verdict's slope, and the
    Theil-Sen intercept (median of y - slope * x over the points after the warm-up)."""
    pts = [(x, y) for x, y, _ in result.series if x > result.warmup_requests]
    if len(pts) < 2:
        return [], []
    slope = result.bytes_per_request
    intercept = statistics.median(y - slope * x for x, y in pts)
    xs = [pts[0][0], pts[-1][0]]
    return xs, [intercept + slope * x for x in xs]


def _has_figures(result: SoakResult) -> bool:
    """Whether the slope was measured: with fewer samples after the warm-up than the trend
    test needs, its 0 B per request (CI 0 to 0) is a placeholder, not a measurement."""
    judged = sum(1 for x, _, _ in result.series if x > result.warmup_requests)
    return not result.series or judged >= MIN_POINTS


def _limit_text(result: SoakResult, name: str) -> str:
    """``limit 256: RLIMIT_NOFILE of pid 42`` for a resource whose limit was read."""
    lim = result.limits.get(name)
    if lim is None:
        return ""
    if lim.value is None:
        return f"limit {lim.source}" if lim.source.startswith("unknown") else lim.source
    shown = format_bytes(lim.value) if name == "rss" else f"{lim.value:,}"
    return f"limit {shown}: {lim.source}"


def _resource_state(r: ResourceVerdict, steady: str, saturated: bool) -> str:
    if saturated:
        return "SATURATED"
    if r.leak and r.warmup_rise and r.per_request <= 0.01:
        return f"GROWING in the warm-up: +{r.warmup_rise:,} over its level before the load"
    return "GROWING" if r.leak else steady


def _endpoint_state(leak: bool | None) -> str:
    return "inconclusive" if leak is None else "LEAK" if leak else "ok"


def render_soak_text(result: SoakResult) -> str:
    """The terminal summary: verdict first, then what backs it."""
    lines = []
    lo, hi = result.ci95
    measured = "Python heap" if result.measured != "rss" else "RSS of the server's tree"

    def b(v: float) -> str:
        return format_bytes(v, signed=True)

    lines.append(
        f"memhound soak: {result.target}: {result.requests:,} requests in "
        f"{result.duration_s:.1f}s ({result.requests_per_s:,.0f} req/s"
        + (f", concurrency {result.concurrency}" if result.concurrency > 1 else "")
        + f"), {result.warmup_requests:,} warm-up, {result.errors:,} errors"
    )
    figures = (
        f"{b(result.bytes_per_request)} per request (95% CI {b(lo)} to {b(hi)}), {measured}; "
        f"RSS {b(result.rss_bytes_per_request)}/request"
    )
    if result.leak is None:
        lines.append(f"  verdict: INCONCLUSIVE: {result.inconclusive or 'no reason given'}")
        if result.target_gone:
            lines.append(f"  STOPPED EARLY: {result.target_gone}")
        if _has_figures(result):
            lines.append(f"  measured, not judged: {figures}")
    elif result.saturated is not None:
        # the limit first: it is the verdict, and what every later failure comes from
        lines.append(f"  verdict: LEAK: {result.saturated.sentence()}")
        if result.target_gone:
            lines.append(f"  STOPPED EARLY: {result.target_gone}")
        lines.append(f"  memory: {figures}")
    else:
        if result.target_gone:
            lines.append(f"  STOPPED EARLY: {result.target_gone}")
        word = "LEAK" if result.leak else "no leak (plateau)"
        lines.append(f"  verdict: {word}: {figures}")
    quiet = 0
    steady = "not judged" if result.leak is None else "steady"
    full = result.saturated.resource if result.saturated is not None else None
    for name, r in result.resources.items():
        if r.leak or name in ("fds", "threads"):
            state = _resource_state(r, steady, name == full)
            limit = _limit_text(result, name)
            lines.append(
                f"  {name}: {r.first} -> {r.last}, {r.per_request:+.3f} per request ({state})"
                + (f"; {limit}" if limit else "")
            )
        else:
            quiet += 1
    if quiet:
        lines.append(f"  ({quiet} more resource series, all {steady}: see --json or report.html)")
    if result.left_open:
        lines.append("  opened during the soak and still open at its end:")
        for x in result.left_open[:10]:
            lines.append(f"    {x.count:>6} x {x.what}, created at {x.created_at}")
    for err in result.errors_watching:
        lines.append(f"  note: {err}")
    if result.per_endpoint:
        lines.append("  per endpoint:")
        for e in result.per_endpoint:
            lines.append(
                f"    {e.endpoint:<30} {b(e.bytes_per_request):>12}/request  "
                f"{_endpoint_state(e.leak)}"
                + (f"  ({e.errors:,} errors)" if e.errors else "")
                + (f": {e.inconclusive}" if e.inconclusive else "")
            )
    if result.growing:
        lines.append("  new after the first round of load and still alive after the second:")
        for g in result.growing:
            lines.append(
                f"    {g.count:>7,} {g.class_name} ({format_bytes(g.retained_bytes)} retained)"
                f"  held by: {g.path}"
            )
    return "\n".join(lines) + "\n"


def render_soak_html(result: SoakResult) -> str:
    from memhound.reporters._page import escape, fill_template, safe_json

    heap = result.measured != "rss"
    label = "Python heap after gc" if heap else "RSS of the server"
    lo, hi = result.ci95

    def b(v: float) -> str:
        return format_bytes(v, signed=True)

    figures = f"{b(result.bytes_per_request)} per request (95% CI {b(lo)} to {b(hi)}), {label}"
    if result.leak is None:
        verdict = f"Inconclusive: {result.inconclusive or 'no reason given'}"
        verdict_class = "inconclusive"
    elif result.saturated is not None:
        verdict = f"LEAK: {result.saturated.sentence()}"
        verdict_class = "leak"
    else:
        verdict = f"{'LEAK' if result.leak else 'No leak (plateau)'}: {figures}"
        verdict_class = "leak" if result.leak else "ok"
    facts = (
        f"{result.requests:,} requests in {result.duration_s:.1f} s "
        f"({result.requests_per_s:,.0f} req/s, concurrency {result.concurrency}); "
        f"{result.warmup_requests:,} warm-up requests not judged; {result.errors:,} errors; "
        f"RSS {b(result.rss_bytes_per_request)} per request"
    )
    if result.leak is None and _has_figures(result):
        facts += f"; measured, not judged: {figures}"
    elif result.saturated is not None:
        facts += f"; memory: {figures}"
    if result.target_gone:
        facts += f". Stopped early: {result.target_gone}"
    endpoints = (
        "".join(
            f"<tr><td>{escape(e.endpoint)}</td><td class=num>{e.requests:,}</td>"
            f"<td class=num>{e.errors:,}</td><td class=num>{escape(b(e.bytes_per_request))}</td>"
            f"<td class=num>{escape(b(e.ci95[0]))} to {escape(b(e.ci95[1]))}</td>"
            f"<td class={_endpoint_state(e.leak)}>{_endpoint_state(e.leak)}"
            + (f": {escape(e.inconclusive)}" if e.inconclusive else "")
            + "</td></tr>"
            for e in result.per_endpoint
        )
        or '<tr><td colspan=6 class="empty">one endpoint: see the verdict above</td></tr>'
    )
    growing = "".join(
        f"<tr><td>{escape(g.class_name)}</td><td class=num>{g.count:,}</td>"
        f"<td class=num>{escape(format_bytes(g.retained_bytes))}</td>"
        f"<td class=path>{escape(g.path)}</td></tr>"
        for g in result.growing
    ) or (
        '<tr><td colspan=4 class="empty">'
        + ("no snapshots taken" if not result.snapshots else "nothing new stayed alive")
        + "</td></tr>"
    )
    steady = "not judged" if result.leak is None else "steady"
    full = result.saturated.resource if result.saturated is not None else None
    resources = "".join(
        f"<tr><td>{escape(name)}</td><td class=num>{r.first:,}</td><td class=num>{r.last:,}</td>"
        f"<td class=num>{r.per_request:+.4f}</td>"
        f"<td class={'GROWING' if r.leak else 'ok'}>"
        f"{escape(_resource_state(r, steady, name == full))}</td>"
        f"<td>{escape(_limit_text(result, name))}</td></tr>"
        for name, r in result.resources.items()
    )
    left = (
        "".join(
            f"<tr><td class=num>{x.count:,}</td><td>{escape(x.what)}</td>"
            f"<td class=path>{escape(x.created_at)}</td></tr>"
            for x in result.left_open
        )
        or '<tr><td colspan=3 class="empty">nothing (or not visible from outside)</td></tr>'
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in result.errors_watching)
    trend_x, trend_y = _trend(result)
    data = {
        "x": [s[0] for s in result.series],
        "primary": [s[1] for s in result.series],
        "rss": [s[2] for s in result.series],
        "show_rss": heap,
        "primary_label": label,
        "warmup": result.warmup_requests,
        "trend_x": trend_x,
        "trend_y": trend_y,
        "leak": result.leak,
    }
    return fill_template(
        "soak.html",
        {
            "TITLE": escape(f"memhound soak: {result.target}"),
            "COMMAND": escape(result.target),
            "VERDICT": escape(verdict),
            "VERDICTCLASS": verdict_class,
            "FACTS": escape(facts),
            "ENDPOINTS": endpoints,
            "GROWING": growing,
            "RESOURCES": resources,
            "LEFTOPEN": left,
            "NOTES": f"<h2>Notes</h2><ul id=notes>{notes}</ul>" if notes else "",
            "DATA": safe_json(data),
        },
    )


class SoakTextReporter:
    def render(self, result: SoakResult) -> str:
        return render_soak_text(result)


class SoakJsonReporter:
    def __init__(self, *, series: bool = True) -> None:
        self.series = series

    def render(self, result: SoakResult) -> str:
        doc = result.to_dict()
        if not self.series:
            doc.pop("series")
        # the verdict and what it rests on first: a limit reached, or why there is none
        first = {k: doc.pop(k) for k in ("target", "leak", "saturated", "inconclusive")}
        return json.dumps({**first, **doc}, indent=1) + "\n"


class SoakHtmlReporter:
    def render(self, result: SoakResult) -> str:
        return render_soak_html(result)
