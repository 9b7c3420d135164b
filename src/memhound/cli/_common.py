"""Pieces the commands share: options into RunOptions, the live status line, end reports."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from memhound.errors import UsageError
from memhound.model.run import REPORT_FILE, Run
from memhound.units import format_bytes, format_duration, parse_bytes, parse_duration
from memhound.workflows._recording import RunOptions, Status


def limit_bytes(args: argparse.Namespace) -> int | None:
    """``--limit SIZE`` in bytes (None when not given); 0 is refused, not read as no limit."""
    if not args.limit:
        return None
    limit = parse_bytes(args.limit)
    if limit <= 0:
        raise UsageError(
            f"--limit {args.limit}: a memory limit must be more than 0",
            hint="give the limit the job runs under, e.g. --limit 2GiB, or leave it out",
        )
    return limit


def run_options(args: argparse.Namespace, **extra: object) -> RunOptions:
    return RunOptions(
        interval_s=parse_duration(args.interval),
        limit_bytes=limit_bytes(args),
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


def finish(
    path: Path,
    kind: str,
    result: object,
    *,
    fmt: str,
    page: str | None = REPORT_FILE,
    text_options: dict[str, Any] | None = None,
    json_options: dict[str, Any] | None = None,
    text_to: TextIO | None = None,
    json_to: TextIO | None = None,
) -> None:
    """How every command ends: the HTML page written into the run directory (``page``; None
    for none), then the result shown as ``fmt`` (text, json or none), then where it was saved.

    The page is written first, so that it exists whatever happens to the terminal; a failure to
    write it loses no data and says how to make it later. Text goes to ``text_to`` and JSON to
    ``json_to`` (stdout unless given: ``run`` and ``watch`` keep stdout for the job's own).
    """
    from memhound.reporters import get_reporter

    written = None
    if page is not None:
        from memhound._fsutil import atomic_write

        try:
            atomic_write(path / page, get_reporter(kind, "html").render(result))
            written = path / page
        except Exception as exc:
            print(
                f"memhound: {page} not written ({exc}); try `memhound report {path} --format html`",
                file=sys.stderr,
            )
    if fmt == "json":
        out = json_to or sys.stdout
        sys.stderr.flush()
        out.write(get_reporter(kind, "json", **(json_options or {})).render(result))
        out.flush()
    elif fmt == "text":
        out = text_to or sys.stdout
        options = {**terminal_options(out, kind), **(text_options or {})}
        out.write(get_reporter(kind, "text", **options).render(result))
        out.flush()
        print(f"report: {written}" if written else f"saved in {path}", file=sys.stderr)


def finish_run(run: Run, args: argparse.Namespace) -> None:
    """``finish`` for run and watch, whose reports go to stderr: stdout is the job's."""
    finish(
        run.path,
        run.meta.kind,
        run,
        fmt="none" if args.quiet else args.report,
        page=None if args.no_html else REPORT_FILE,
        text_to=sys.stderr,
        json_to=sys.stderr,
    )


def terminal_options(stream: TextIO, kind: str) -> dict[str, Any]:
    """Colour and width for a kind's text report on ``stream`` (plain and 100 columns off a
    terminal); nothing for kinds whose text reporter is plain."""
    from memhound.reporters import kind_of

    if not kind_of(kind).styled:
        return {}
    color = stream.isatty()
    width = 100
    if color:
        import shutil

        width = max(60, min(140, shutil.get_terminal_size().columns))
    return {"color": color, "width": width}
