"""Pieces the commands share: options into RunOptions, the live status line, end reports."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from memhound.model.run import REPORT_FILE, Run
from memhound.units import format_bytes, format_duration, parse_bytes, parse_duration
from memhound.workflows._recording import RunOptions, Status


def run_options(args: argparse.Namespace, **extra: object) -> RunOptions:
    return RunOptions(
        interval_s=parse_duration(args.interval),
        limit_bytes=parse_bytes(args.limit) if args.limit else None,
        output_dir=Path(args.output) if args.output else None,
        runs_dir=Path(args.runs_dir),
        resource_interval_s=parse_duration(args.resource_interval),
        postgres=args.postgres,
        redis=args.redis,
        **extra,  # type: ignore[arg-type]
    )


class LiveStatus:
    """A one-line status on a terminal, redrawn at most 4 times a second; silent otherwise."""

    def __init__(self, stream: TextIO = sys.stderr, *, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def __call__(self, status: Status) -> None:
        if not self.enabled:
            return
        if status.final:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        self.stream.write(
            f"\r\x1b[Kmemhound {format_duration(status.elapsed_s)}  "
            f"now {format_bytes(status.current_bytes)}  peak {format_bytes(status.peak_bytes)}"
            f"  ({status.processes} process{'es' if status.processes != 1 else ''})"
        )
        self.stream.flush()


def write_html_report(run: Run) -> None:
    """Write report.html into the run directory; a failure here loses no data."""
    from memhound._fsutil import atomic_write
    from memhound.reporters.html import HtmlReporter

    try:
        atomic_write(run.path / REPORT_FILE, HtmlReporter().render(run))
    except Exception as exc:
        print(
            f"memhound: report.html not written ({exc}); "
            f"try `memhound report {run.path} --format html`",
            file=sys.stderr,
        )


def print_end_report(run: Run, fmt: str, stream: TextIO = sys.stderr) -> None:
    if fmt == "none":
        return
    if fmt == "json":
        from memhound.reporters.json import JsonReporter

        stream.write(JsonReporter().render(run))
        return
    from memhound.reporters.terminal import TerminalReporter

    color = stream.isatty()
    width = 100
    if color:
        import shutil

        width = max(60, min(140, shutil.get_terminal_size().columns))
    stream.write(TerminalReporter(color=color, width=width).render(run))
    html = run.path / REPORT_FILE
    if html.exists():
        stream.write(f"report: {html}\n")
