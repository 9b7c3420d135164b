"""The HTML report of a run: one self-contained file with an interactive Plotly chart
(how pages are built and escaped: ``memhound.reporters._page``)."""

from __future__ import annotations

import time
from typing import Any

from memhound import __version__
from memhound.analysis.stacks import created_at
from memhound.analysis.summary import ci_text
from memhound.model.run import Run, RunSummary
from memhound.model.timeline import GcEvent
from memhound.reporters._page import escape, fill_template, safe_json
from memhound.reporters._series import bucket_max, command_text
from memhound.units import format_bytes, format_duration

MAX_POINTS = 5000


def _num(value: object) -> str:
    return f'<td class="num">{escape(value)}</td>'


class HtmlReporter:
    def __init__(self, *, max_points: int = MAX_POINTS, top_processes: int = 12) -> None:
        self.max_points = max_points
        self.top_processes = top_processes

    # -- data for the chart ------------------------------------------------------------------
    def chart_data(self, run: Run) -> dict[str, Any]:
        samples = run.timeline.samples
        step = max(1, -(-len(samples) // self.max_points))
        t = [s.t for s in samples]
        total: list[float] = [s.total_pss_bytes for s in samples]
        if step > 1:
            t = t[::step]
            total = bucket_max(total, len(t))
        s = run.summary
        assert s is not None
        labels = {p.pid: " ".join(p.cmdline)[:60] for p in s.processes}
        procs = []
        for p in s.processes[: self.top_processes]:
            pt = [x.t for x in samples for q in x.procs if q.pid == p.pid]
            prss: list[float] = [q.rss_bytes for x in samples for q in x.procs if q.pid == p.pid]
            if step > 1:
                pt = pt[::step]
                prss = bucket_max(prss, len(pt))
            procs.append({"pid": p.pid, "label": labels.get(p.pid, ""), "t": pt, "rss": prss})
        traced: dict[int, dict[str, list[float]]] = {}
        for tr in run.timeline.traced:
            d = traced.setdefault(tr.pid, {"t": [], "current": []})
            d["t"].append(tr.t)
            d["current"].append(tr.current_bytes)
        checkpoints = []
        for c in run.timeline.checkpoints:
            y = None
            for x in samples:  # the total at the checkpoint's moment
                if x.t <= c.t:
                    y = x.total_pss_bytes
                else:
                    break
            checkpoints.append({"t": c.t, "label": c.label, "pid": c.pid, "y": y})
        peak = None
        if s.peak_t is not None and s.peak_total_pss_bytes is not None:
            peak = {
                "t": s.peak_t,
                "bytes": s.peak_total_pss_bytes,
                "text": f"peak {format_bytes(s.peak_total_pss_bytes)} at "
                f"{format_duration(s.peak_t)}",
            }
        # Full collections and long pauses: the flat stretches of a growing line.
        slow = [e for e in run.timeline.gc_events if e.generation == 2 or e.duration_s >= 0.05]
        slow = sorted(slow, key=lambda e: e.duration_s, reverse=True)[:2000]
        gcs = [
            {
                "t": e.t,
                "text": f"gen{e.generation} collection in pid {e.pid}: "
                f"{e.duration_s * 1000:.1f} ms, {e.collected:,} collected",
            }
            for e in sorted(slow, key=lambda e: e.t)
        ]
        limit = run.meta.limit_bytes
        if limit is None and run.meta.exit and run.meta.exit.oom:
            limit = run.meta.exit.oom.limit_bytes
        return {
            "t": t,
            "total_pss": total,
            "processes": procs,
            "traced": [{"pid": pid, **d} for pid, d in traced.items()],
            "checkpoints": checkpoints,
            "peak": peak,
            "gc": gcs,
            "limit": limit,
        }

    # -- HTML pieces -------------------------------------------------------------------------
    def _summary(self, run: Run) -> str:
        s = run.summary
        assert s is not None
        cards = [
            (
                "peak (PSS, tree)",
                format_bytes(s.peak_total_pss_bytes),
                f"at {format_duration(s.peak_t)}" if s.peak_t is not None else "",
            ),
            (
                "final (PSS, tree)",
                format_bytes(s.final_total_pss_bytes),
                f"after {format_duration(s.duration_s)}",
            ),
            ("start (PSS, tree)", format_bytes(s.start_total_pss_bytes), ""),
            ("peak RSS sum", format_bytes(s.peak_total_rss_bytes), "counts shared pages twice"),
        ]
        if run.meta.exit and run.meta.exit.max_rss_bytes is not None:
            cards.append(
                (
                    "peak RSS of target",
                    format_bytes(run.meta.exit.max_rss_bytes),
                    "exact, from the kernel",
                )
            )
        if s.traced_peak_bytes is not None:
            cards.append(("peak Python heap", format_bytes(s.traced_peak_bytes), "tracemalloc"))
        parts = ['<section><h2>Summary</h2><div class="cards">']
        for k, v, sub in cards:
            parts.append(
                f'<div class="card"><div class="k">{escape(k)}</div>'
                f'<div class="v">{escape(v)}</div><div class="k">{escape(sub)}</div></div>'
            )
        parts.append("</div>")
        ex = run.meta.exit
        if ex is not None and ex.oom is not None:
            cls = "oom-likely" if ex.oom.likely else "oom-unlikely"
            head = "Most likely OOM-killed" if ex.oom.likely else "Killed, OOM not likely"
            parts.append(f'<p class="{cls}">{escape(head)}: {escape(ex.oom.reason)}</p>')
        parts.append("</section>")
        return "".join(parts)

    def _tables(self, run: Run) -> str:
        s = run.summary
        assert s is not None
        sections = (
            self._processes(s),
            self._checkpoints(run),
            self._resources(s),
            self._snapshots(run),
            self._open_at_exit(run),
            self._gc(s),
        )
        return "".join(sections)

    def _processes(self, s: RunSummary) -> str:
        if not s.processes:
            return ""
        rows = "".join(
            "<tr>"
            + _num(p.pid)
            + _num(format_bytes(p.peak_rss_bytes))
            + _num(format_bytes(p.peak_pss_bytes))
            + _num(format_bytes(p.final_rss_bytes))
            + f'<td class="mono">{escape(" ".join(p.cmdline))}</td></tr>'
            for p in s.processes[:100]
        )
        return (
            '<section id="processes"><h2>Processes (by peak RSS)</h2><table><thead><tr>'
            '<th class="num">pid</th><th class="num">peak RSS</th><th class="num">peak PSS'
            '</th><th class="num">final RSS</th><th>command</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></section>"
        )

    def _checkpoints(self, run: Run) -> str:
        if not run.timeline.checkpoints:
            return ""
        rows = "".join(
            f'<tr><td class="num">{escape(format_duration(c.t))}</td><td class="num">{c.pid}</td>'
            f'<td class="label">{escape(c.label)}</td>'
            f'<td class="num">{escape(format_bytes(c.reading.rss_bytes if c.reading else None))}'
            f'</td><td class="num">'
            f"{escape(format_bytes(c.reading.pss_bytes if c.reading else None))}</td>"
            f'<td class="num">'
            f"{escape(format_bytes(c.reading.traced_current_bytes if c.reading else None))}"
            "</td></tr>"
            for c in run.timeline.checkpoints
        )
        return (
            '<section id="checkpoints"><h2>Checkpoints</h2><table><thead><tr>'
            '<th class="num">t</th><th class="num">pid</th><th>label</th>'
            '<th class="num">RSS</th><th class="num">PSS</th><th class="num">Python heap</th>'
            f"</tr></thead><tbody>{rows}</tbody></table></section>"
        )

    def _resources(self, s: RunSummary) -> str:
        if not s.resources:
            return ""
        rows = "".join(
            "<tr>"
            + f'<td class="mono">{escape(r.name)}</td>'
            + _num(r.first)
            + _num(r.last)
            + _num(r.peak)
            + _num(f"{r.per_minute:+.2f} " + ci_text(r.ci_low_per_minute, r.ci_high_per_minute))
            + f"<td>{'GROWING' if r.growing else 'steady'}"
            + (
                " (" + escape(", ".join(f"pid {p}: {n}" for p, n in r.by_pid_at_peak.items())) + ")"
                if r.growing and r.by_pid_at_peak
                else ""
            )
            + "</td></tr>"
            for r in s.resources
        )
        errors = "".join(f'<p class="note">not watched: {escape(e)}</p>' for e in s.resource_errors)
        return (
            '<section id="resources"><h2>Resources of the process tree</h2><table><thead>'
            '<tr><th>resource</th><th class="num">first</th><th class="num">last</th>'
            '<th class="num">peak</th><th class="num">per minute (95% CI)</th>'
            f"<th>verdict</th></tr></thead><tbody>{rows}</tbody></table>{errors}</section>"
        )

    def _snapshots(self, run: Run) -> str:
        if not run.timeline.snapshots:
            return ""
        rows = "".join(
            "<tr>"
            + _num(format_duration(x.t))
            + _num(x.pid)
            + f"<td>{escape(x.reason)}</td>"
            + f'<td class="mono">{escape(x.path or "not written: " + (x.error or ""))}</td>'
            + _num(f"{x.nodes:,}" if x.nodes is not None else "")
            + "</tr>"
            for x in run.timeline.snapshots
        )
        return (
            '<section id="snapshots"><h2>Heap snapshots</h2><table><thead><tr>'
            '<th class="num">t</th><th class="num">pid</th><th>trigger</th><th>file</th>'
            f'<th class="num">objects</th></tr></thead><tbody>{rows}</tbody></table>'
            '<p class="note">Open them with <code>memhound heap summary FILE</code>, Chrome '
            "DevTools (Memory, Load) or memlab.</p></section>"
        )

    def _open_at_exit(self, run: Run) -> str:
        if not run.timeline.open_at_exit:
            return ""
        rows = "".join(
            "<tr>" + _num(group.pid) + f"<td>{escape(item.kind)}</td>"
            f'<td class="mono">{escape(item.what)}</td>'
            f'<td class="mono">{escape(created_at(item.stack))}</td></tr>'
            for group in run.timeline.open_at_exit
            for item in group.items
        )
        return (
            '<section id="open-at-exit"><h2>Still open when the Python processes exited'
            '</h2><table><thead><tr><th class="num">pid</th><th>kind</th><th>what</th>'
            f"<th>created at</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )

    def _gc(self, s: RunSummary) -> str:
        g = s.gc
        if g is None:
            return ""

        def gc_rows(events: tuple[GcEvent, ...]) -> str:
            return "".join(
                "<tr>"
                + _num(format_duration(e.t))
                + _num(e.pid)
                + _num(e.generation)
                + _num(f"{e.collected:,}")
                + _num(e.uncollectable)
                + _num(f"{e.duration_s * 1000:.2f} ms")
                + "</tr>"
                for e in events
            )

        head = (
            '<table><thead><tr><th class="num">t</th><th class="num">pid</th>'
            '<th class="num">generation</th><th class="num">collected</th>'
            '<th class="num">uncollectable</th><th class="num">pause</th></tr></thead>'
        )
        return (
            '<section id="gc"><h2>Garbage collector</h2>'
            f"<p>Collections gen0/gen1/gen2: {g.collections[0]}/{g.collections[1]}/"
            f"{g.collections[2]}; objects collected {g.collected:,}; uncollectable "
            f"{g.uncollectable:,}; pauses total {escape(format_duration(g.pause_total_s))}, "
            f"longest {escape(format_duration(g.pause_max_s))}.</p>"
            f"<h3>Longest pauses</h3>{head}<tbody>{gc_rows(g.longest)}</tbody></table>"
            f"<h3>Last {len(g.last)} collections, newest first</h3>{head}<tbody>"
            f"{gc_rows(tuple(reversed(g.last)))}</tbody></table></section>"
        )

    def render(self, run: Run) -> str:
        s = run.summary
        assert s is not None, "summarize the run first (memhound.load_run does)"
        meta = run.meta
        ending = (
            meta.exit.describe()
            if meta.exit
            else ("memhound stopped before the end" if meta.status == "running" else meta.status)
        )
        status = (
            f"{ending} · {format_duration(s.duration_s)} · {s.samples} samples every "
            f"{format_duration(meta.interval_s)} · started {meta.started_at}"
        )
        values = {
            "TITLE": escape(f"memhound {meta.kind}: {command_text(run)}"),
            "KIND": escape(meta.kind),
            "COMMAND": escape(command_text(run)),
            "STATUS": escape(status),
            "SUMMARY": self._summary(run),
            "TABLES": self._tables(run),
            "VERSION": escape(__version__),
            "RUNDIR": escape(run.path),
            "DATA": safe_json(self.chart_data(run)),
        }
        return fill_template("run.html", values) + f"<!-- generated {time.ctime()} -->\n"
