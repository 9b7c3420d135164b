"""The terminal report: summary table, sparkline, processes, checkpoints, gc."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from memhound.analysis.stacks import created_at
from memhound.analysis.summary import ci_text
from memhound.model.run import Run, RunSummary
from memhound.reporters._series import command_text, sparkline
from memhound.units import format_bytes, format_duration


class TerminalReporter:
    def __init__(self, *, color: bool = False, width: int = 100, top: int = 10) -> None:
        self.color = color
        self.width = width
        self.top = top

    def render(self, run: Run) -> str:
        buf = io.StringIO()
        console = Console(
            file=buf,
            width=self.width,
            color_system="standard" if self.color else None,
            force_terminal=self.color,
            highlight=False,
            soft_wrap=True,
        )
        self._render(run, console)
        return buf.getvalue()

    def _render(self, run: Run, console: Console) -> None:
        s = run.summary
        assert s is not None, "summarize the run first (memhound.load_run does)"
        self._heading(run, s, console)
        self._memory(run, s, console)
        self._processes(s, console)
        self._checkpoints(run, console)
        self._resources(s, console)
        self._snapshots(run, console)
        self._open_at_exit(run, console)
        self._gc(s, console)

    def _heading(self, run: Run, s: RunSummary, console: Console) -> None:
        meta = run.meta
        title = Text(f"memhound {meta.kind}: ", style="bold")
        title.append(command_text(run))
        console.print(title)
        ending = (
            meta.exit.describe()
            if meta.exit
            else (
                "memhound stopped before the end (status: running)"
                if meta.status == "running"
                else meta.status
            )
        )
        console.print(
            f"  {ending} after {format_duration(s.duration_s)}; "
            f"{s.samples} samples every {format_duration(meta.interval_s)}; saved in {run.path}"
        )
        if meta.exit and meta.exit.oom is not None:
            style = "bold red" if meta.exit.oom.likely else "yellow"
            console.print(Text(f"  OOM: {meta.exit.oom.reason}", style=style))
        if meta.incomplete:
            console.print(Text(f"  INCOMPLETE ON DISK: {meta.incomplete}", style="bold yellow"))
        if s.damaged_lines:
            console.print(f"  ({s.damaged_lines} damaged timeline line(s) skipped)")

    def _memory(self, run: Run, s: RunSummary, console: Console) -> None:
        meta = run.meta
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        table.add_column("memory of the process tree")
        table.add_column("PSS total", justify="right")
        table.add_column("when", justify="right")
        table.add_row(
            "peak",
            format_bytes(s.peak_total_pss_bytes),
            format_duration(s.peak_t) if s.peak_t is not None else "n/a",
        )
        table.add_row("start", format_bytes(s.start_total_pss_bytes), "0s")
        table.add_row("final", format_bytes(s.final_total_pss_bytes), format_duration(s.duration_s))
        if s.peak_total_rss_bytes is not None:
            table.add_row(
                "peak RSS sum (double-counts shared pages)",
                format_bytes(s.peak_total_rss_bytes),
                "",
            )
        if meta.exit and meta.exit.max_rss_bytes is not None:
            table.add_row(
                "peak RSS of the target (kernel, exact)", format_bytes(meta.exit.max_rss_bytes), ""
            )
        if s.traced_peak_bytes is not None:
            table.add_row("peak Python heap (tracemalloc)", format_bytes(s.traced_peak_bytes), "")
        console.print(table)
        if s.iterations is not None:
            line = f"  work marked with memhound.iteration(): {s.iterations:,} iterations"
            if s.memory_per_iteration is not None:
                slope, lo, hi = s.memory_per_iteration
                line += (
                    f"; memory {format_bytes(slope, signed=True)} per iteration "
                    f"(95% CI {format_bytes(lo, signed=True)} to {format_bytes(hi, signed=True)})"
                )
            console.print(line)
        series = [x.total_pss_bytes for x in run.timeline.samples]
        if series:
            console.print(
                f"  PSS over time  {sparkline(series, min(60, self.width - 30))}  "
                f"max {format_bytes(max(series))}"
            )

    def _processes(self, s: RunSummary, console: Console) -> None:
        if not s.processes:
            return
        pt = Table(title=None, box=None, header_style="bold", padding=(0, 2))
        for col, just in (
            ("pid", "right"),
            ("peak RSS", "right"),
            ("peak PSS", "right"),
            ("final RSS", "right"),
            ("command", "left"),
        ):
            pt.add_column(col, justify=just)  # type: ignore[arg-type]
        for p in s.processes[: self.top]:
            cmd = " ".join(p.cmdline)
            pt.add_row(
                str(p.pid),
                format_bytes(p.peak_rss_bytes),
                format_bytes(p.peak_pss_bytes),
                format_bytes(p.final_rss_bytes),
                Text(cmd[:70] + ("…" if len(cmd) > 70 else "")),
            )
        console.print()
        console.print(Text(f"processes ({len(s.processes)}, by peak RSS)", style="bold"))
        console.print(pt)

    def _checkpoints(self, run: Run, console: Console) -> None:
        if not run.timeline.checkpoints:
            return
        ct = Table(box=None, header_style="bold", padding=(0, 2))
        for col in ("t", "pid", "label", "RSS", "PSS", "Python heap"):
            ct.add_column(col, justify="left" if col == "label" else "right")
        for c in run.timeline.checkpoints[: self.top * 5]:
            r = c.reading
            ct.add_row(
                format_duration(c.t),
                str(c.pid),
                Text(c.label),
                format_bytes(r.rss_bytes if r else None),
                format_bytes(r.pss_bytes if r else None),
                format_bytes(r.traced_current_bytes if r else None),
            )
        console.print()
        console.print(Text("checkpoints", style="bold"))
        console.print(ct)

    def _resources(self, s: RunSummary, console: Console) -> None:
        if not s.resources:
            return
        rt = Table(box=None, header_style="bold", padding=(0, 2))
        for col in ("resource", "first", "last", "peak", "per minute (95% CI)", "verdict"):
            rt.add_column(col, justify="left" if col in ("resource", "verdict") else "right")
        for res in s.resources:
            verdict = Text("GROWING", style="bold red") if res.growing else Text("steady")
            if res.growing and res.by_pid_at_peak:
                top = sorted(res.by_pid_at_peak.items(), key=lambda kv: kv[1], reverse=True)[:3]
                verdict.append(" (" + ", ".join(f"pid {p}: {n}" for p, n in top) + ")")
            if res.per_iteration is not None:
                verdict.append(f"; {res.per_iteration:+.3f} per iteration")
            rt.add_row(
                res.name,
                str(res.first),
                str(res.last),
                str(res.peak),
                f"{res.per_minute:+.2f} " + ci_text(res.ci_low_per_minute, res.ci_high_per_minute),
                verdict,
            )
        console.print()
        console.print(Text("resources of the process tree", style="bold"))
        console.print(rt)
        for err in s.resource_errors[:3]:
            console.print(Text(f"  not watched: {err}", style="yellow"))
        hidden = next((r for r in s.resources if r.name == "postgres.hidden"), None)
        if hidden is not None and hidden.peak:
            console.print(
                Text(
                    f"  {hidden.peak} PostgreSQL session(s) of other users were listed "
                    "without their state, address or query: grant pg_read_all_stats to "
                    "the watching user to see them",
                    style="yellow",
                )
            )

    def _snapshots(self, run: Run, console: Console) -> None:
        if not run.timeline.snapshots:
            return
        console.print()
        console.print(Text("heap snapshots", style="bold"))
        for snap in run.timeline.snapshots:
            if snap.error:
                console.print(
                    Text(
                        f"  {format_duration(snap.t)}  pid {snap.pid}  "
                        f"{snap.reason}: not written: {snap.error}",
                        style="yellow",
                    )
                )
            else:
                console.print(
                    Text(
                        f"  {format_duration(snap.t)}  pid {snap.pid}  "
                        f"{snap.reason}: {snap.path} ({snap.nodes:,} objects, "
                        f"{format_bytes(snap.total_bytes)})"
                    )
                )
        console.print("  read them with `memhound heap summary FILE`, Chrome DevTools or memlab")

    def _open_at_exit(self, run: Run, console: Console) -> None:
        if not run.timeline.open_at_exit:
            return
        console.print()
        console.print(Text("still open when the Python processes exited", style="bold"))
        for group in run.timeline.open_at_exit:
            for item in group.items:
                console.print(
                    Text(f"  pid {group.pid}: {item.what}, created at {created_at(item.stack)}")
                )

    def _gc(self, s: RunSummary, console: Console) -> None:
        g = s.gc
        if g is None:
            return
        console.print()
        console.print(Text("garbage collector", style="bold"))
        console.print(
            f"  collections gen0/gen1/gen2: {g.collections[0]}/{g.collections[1]}/"
            f"{g.collections[2]}; objects collected {g.collected:,}, uncollectable "
            f"{g.uncollectable:,}; pauses total {format_duration(g.pause_total_s)}, "
            f"longest {format_duration(g.pause_max_s)}"
        )
        for heading, events in (("longest pauses", g.longest), ("last collections", g.last)):
            if events:
                line = ", ".join(
                    f"gen{e.generation} at {format_duration(e.t)} "
                    f"({e.duration_s * 1000:.1f}ms, {e.collected} collected)"
                    for e in events[-5:]
                )
                console.print(f"  {heading}: {line}")
