"""memhound run [options] -- CMD [ARGS...]

Start CMD, sample the memory of its whole process tree until it exits, and save a run
(run.json, timeline.jsonl, report.html). The exit status of CMD is passed through.
"""

from __future__ import annotations

import argparse

from memhound.cli._options import add_sampling_options

HELP = "run a command and record its memory over time"


def configure(p: argparse.ArgumentParser) -> None:
    add_sampling_options(p)
    p.add_argument(
        "--no-agent",
        action="store_true",
        help="do not start memhound's agent in Python children (no gc events, "
        "no checkpoints on the timeline)",
    )
    p.add_argument(
        "--trace-python",
        action="store_true",
        help="start tracemalloc in Python children and record the traced heap "
        "(slows allocation-heavy code 5-8x)",
    )
    p.add_argument(
        "--resource-stacks",
        action="store_true",
        help="list sockets, files, connections and threads still open when Python processes "
        "exit, with the line that created them (runs tracemalloc in them: 5-8x slower)",
    )
    p.add_argument(
        "--gc-keep",
        type=int,
        default=20,
        metavar="N",
        help="how many of the last gc collections the report lists (default: 20)",
    )
    p.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def execute(args: argparse.Namespace) -> int:
    from memhound.cli._common import LiveStatus, print_end_report, run_options, write_html_report
    from memhound.errors import UsageError
    from memhound.runner import run_command

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("no command to run", hint="memhound run [options] -- python job.py")
    if args.gc_keep < 0:
        raise UsageError("--gc-keep must be 0 or more")
    if args.resource_stacks and args.no_agent:
        raise UsageError("--resource-stacks needs the agent", hint="drop --no-agent")
    options = run_options(
        args,
        agent=not args.no_agent,
        trace_python=args.trace_python,
        gc_keep=args.gc_keep,
        resource_stacks=args.resource_stacks,
    )
    run = run_command(cmd, options, on_status=None if args.quiet else LiveStatus())
    if not args.no_html:
        write_html_report(run)
    if not args.quiet:
        print_end_report(run, args.report)
    assert run.meta.exit is not None and run.meta.exit.returncode is not None
    return run.meta.exit.returncode
