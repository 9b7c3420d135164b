"""memhound watch --pid PID [--duration TIME] [options]

Sample an existing process and its descendants until it exits, the duration passes, or
Ctrl-C; save a run like `memhound run` does.
"""

from __future__ import annotations

import argparse

from memhound.cli._options import add_sampling_options

HELP = "record the memory of a running process tree"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=int, required=True, help="the process to watch")
    p.add_argument("--duration", metavar="TIME", help="stop after this long, e.g. 60s, 5m")
    add_sampling_options(p)


def execute(args: argparse.Namespace) -> int:
    from memhound.cli._common import LiveStatus, print_end_report, run_options, write_html_report
    from memhound.runner import watch_pid
    from memhound.units import parse_duration

    options = run_options(
        args,
        agent=False,
        duration_s=parse_duration(args.duration) if args.duration else None,
    )
    run = watch_pid(args.pid, options, on_status=None if args.quiet else LiveStatus())
    if not args.no_html:
        write_html_report(run)
    if not args.quiet:
        print_end_report(run, args.report)
    return 0
