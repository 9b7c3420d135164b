"""memhound watch (--pid PID | --postgres DSN | --redis URL) [--duration TIME] [options]

Sample an existing process and its descendants until it exits, the duration passes, or
Ctrl-C; save a run like `memhound run` does. With --postgres/--redis and a pid, the server
sessions that belong to the process tree are counted too; without a pid, the servers are
watched on their own: sessions grouped by application, user, client and state.
"""

from __future__ import annotations

import argparse

from memhound.cli._options import add_sampling_options

HELP = "record the memory of a running process tree"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=int, help="the process (tree) to watch")
    p.add_argument("--duration", metavar="TIME", help="stop after this long, e.g. 60s, 5m")
    add_sampling_options(p)


def execute(args: argparse.Namespace) -> int:
    from memhound.cli._common import LiveStatus, finish_run, run_options
    from memhound.units import parse_duration
    from memhound.workflows.watch import watch_pid, watch_servers

    options = run_options(
        args,
        agent=False,
        duration_s=parse_duration(args.duration) if args.duration else None,
    )
    status = None if args.quiet else LiveStatus()
    if args.pid is None:
        run = watch_servers(options, on_status=status)
    else:
        run = watch_pid(args.pid, options, on_status=status)
    finish_run(run, args)
    return 0
