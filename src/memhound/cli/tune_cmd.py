"""memhound tune [--configs A,B,...] [--repeat N] -- CMD [ARGS...]

Run CMD several times under each allocator and gc configuration and compare peak RSS, final
RSS and wall time with the baseline (median and min-max). The verdict names the
configurations that beat the baseline by more than the measured noise, or says plainly that
none did. Configurations: baseline, arena-max-2, trim-threshold-128k, mmap-threshold-64k,
jemalloc, pymalloc-off, gc-relaxed, gc-freeze, gc-collect-N, malloc-trim. gc-freeze and
gc-collect-N act where the program calls memhound.iteration() once per loop turn.
"""

from __future__ import annotations

import argparse

HELP = "measure allocator and gc settings side by side on a command"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configs", metavar="A,B,...", help="configurations to try (default: all)")
    p.add_argument("--repeat", type=int, default=3, metavar="N", help="runs each (default: 3)")
    p.add_argument(
        "--min-effect",
        default="5%",
        metavar="PCT",
        help="smallest change that counts, besides beating the noise (default: 5%%)",
    )
    p.add_argument("--interval", default="50ms", metavar="TIME", help="sampling interval")
    p.add_argument("--format", choices=("text", "json", "none"), default="text")
    p.add_argument("-o", "--output", metavar="DIR", help="the run directory to write")
    p.add_argument("--runs-dir", default="memhound-runs", metavar="DIR")
    p.add_argument("--no-html", action="store_true", help="do not write report.html")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _percent(text: str) -> float:
    from memhound.errors import UsageError

    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError as exc:
        raise UsageError(f"not a percentage: {text!r}", hint="e.g. --min-effect 5%") from exc
    if not 0 <= value < 1:
        raise UsageError("--min-effect must be between 0% and 100%")
    return value


def execute(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from memhound.cli._common import finish
    from memhound.errors import UsageError
    from memhound.model.run import REPORT_FILE
    from memhound.units import format_bytes, parse_duration
    from memhound.workflows._recording import validate_interval
    from memhound.workflows.tune import Progress, parse_configs, run_tune

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("no command to tune", hint="memhound tune -- python job.py")
    configs = parse_configs(args.configs)
    interval = validate_interval(parse_duration(args.interval))

    def progress(p: Progress) -> None:
        if args.quiet or p.last is None:
            return
        r = p.last
        what = r.error or (
            f"peak {format_bytes(r.peak_rss_bytes)}, final {format_bytes(r.final_rss_bytes)}, "
            f"{r.wall_s:.2f} s"
        )
        print(f"tune [{p.done}/{p.total}] {p.config} (round {p.round}): {what}", file=sys.stderr)

    result, run = run_tune(
        cmd,
        configs,
        repeat=args.repeat,
        interval_s=interval,
        output_dir=Path(args.output) if args.output else None,
        runs_dir=Path(args.runs_dir),
        min_effect=_percent(args.min_effect),
        on_progress=progress,
    )
    finish(run.path, "tune", result, fmt=args.format, page=None if args.no_html else REPORT_FILE)
    return 130 if run.meta.status == "interrupted" else 0
