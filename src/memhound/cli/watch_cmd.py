"""memhound watch --pid PID [--duration TIME]"""

from __future__ import annotations

import argparse

from memhound.cli._common import LiveStatus, print_end_report, run_options, write_html_report
from memhound.runner import watch_pid
from memhound.units import parse_duration


def execute(args: argparse.Namespace) -> int:
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
