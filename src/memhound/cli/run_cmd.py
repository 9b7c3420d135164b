"""memhound run [options] -- CMD ARGS..."""

from __future__ import annotations

import argparse

from memhound.cli._common import LiveStatus, print_end_report, run_options, write_html_report
from memhound.errors import UsageError
from memhound.runner import run_command


def execute(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("no command to run", hint="memhound run [options] -- python job.py")
    if args.gc_keep < 0:
        raise UsageError("--gc-keep must be 0 or more")
    options = run_options(
        args, agent=not args.no_agent, trace_python=args.trace_python, gc_keep=args.gc_keep
    )
    run = run_command(cmd, options, on_status=None if args.quiet else LiveStatus())
    if not args.no_html:
        write_html_report(run)
    if not args.quiet:
        print_end_report(run, args.report)
    assert run.meta.exit is not None and run.meta.exit.returncode is not None
    return run.meta.exit.returncode
