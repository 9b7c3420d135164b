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
        "--profile",
        action="store_true",
        help="run the Python command under `memhound profile`: allocated vs retained memory "
        "by line and type, in RUN_DIR/alloc.json and alloc.html (about 2-3x slower)",
    )
    p.add_argument(
        "--resource-stacks",
        action="store_true",
        help="list sockets, files, connections and threads still open when Python processes "
        "exit, with the line that created them (runs tracemalloc in them: 5-8x slower)",
    )
    snap = p.add_argument_group("heap snapshots of Python children (into RUN_DIR/snapshots)")
    snap.add_argument(
        "--snapshot-on-signal",
        nargs="?",
        const="SIGUSR2",
        metavar="SIGNAL",
        help="one snapshot each time the process gets SIGNAL (default SIGUSR2); "
        "`memhound snapshot --pid` sends it",
    )
    snap.add_argument("--snapshot-every", metavar="TIME", help="a snapshot every TIME, e.g. 30s")
    snap.add_argument(
        "--snapshot-above",
        metavar="SIZE|PCT",
        help="one snapshot when a process's RSS crosses SIZE (e.g. 1GiB) or PCT of the "
        "memory limit (e.g. 80%%: of --limit, else the cgroup's)",
    )
    snap.add_argument(
        "--snapshot-at-exit",
        action="store_true",
        help="a snapshot when each Python process exits, or is sent SIGTERM",
    )
    snap.add_argument(
        "--redact-strings",
        action="store_true",
        help="write the snapshots without the text of strings and bytes (their lengths "
        "only), so tokens and passwords stay out of the files",
    )
    p.add_argument(
        "--gc-keep",
        type=int,
        default=20,
        metavar="N",
        help="how many of the last gc collections the report lists (default: 20)",
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="let the command run on if memhound is killed (by default the command is sent "
        "SIGTERM when memhound dies, even by SIGKILL)",
    )
    p.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def snapshot_options(args: argparse.Namespace) -> dict[str, object]:
    import os
    import signal

    from memhound._platform import cgroup_memory
    from memhound.cli._common import limit_bytes
    from memhound.errors import UsageError
    from memhound.units import parse_bytes, parse_duration

    out: dict[str, object] = {
        "snapshot_at_exit": args.snapshot_at_exit,
        "snapshot_redact": args.redact_strings,
    }
    if args.snapshot_on_signal:
        name = args.snapshot_on_signal.upper()
        name = name if name.startswith("SIG") else f"SIG{name}"
        if not isinstance(getattr(signal, name, None), int) or name in ("SIGKILL", "SIGSTOP"):
            raise UsageError(
                f"not a signal we can catch: {args.snapshot_on_signal!r}",
                hint="e.g. --snapshot-on-signal SIGUSR2",
            )
        out["snapshot_signal"] = name
    triggers = (args.snapshot_on_signal, args.snapshot_every, args.snapshot_above)
    if args.redact_strings and not (any(triggers) or args.snapshot_at_exit):
        raise UsageError(
            "--redact-strings applies to heap snapshots, and none was asked for",
            hint="add --snapshot-on-signal, --snapshot-every, --snapshot-above or "
            "--snapshot-at-exit",
        )
    if args.snapshot_every:
        every = parse_duration(args.snapshot_every)
        if every < 0.1:
            raise UsageError("--snapshot-every must be at least 100ms", hint="e.g. 30s")
        out["snapshot_every_s"] = every
    if args.snapshot_above:
        text = args.snapshot_above.strip()
        if text.endswith("%"):
            try:
                fraction = float(text[:-1]) / 100
            except ValueError:
                fraction = -1.0
            if not 0 < fraction <= 1:
                raise UsageError(
                    f"--snapshot-above {text}: a percentage must be above 0% and at most 100%",
                    hint="e.g. --snapshot-above 80%",
                )
            cg = cgroup_memory(os.getpid())
            limit = limit_bytes(args) or (cg.limit_bytes if cg else None)
            if not limit:
                raise UsageError(
                    "no memory limit known for --snapshot-above " + text,
                    hint="give --limit SIZE, or a size instead of a percentage",
                )
            out["snapshot_above_bytes"] = int(limit * fraction)
        else:
            out["snapshot_above_bytes"] = parse_bytes(text)
    return out


def execute(args: argparse.Namespace) -> int:
    from memhound.cli._common import LiveStatus, finish_run, run_options
    from memhound.errors import UsageError
    from memhound.workflows.run import run_command

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
        profile=args.profile,
        detach=args.detach,
        **snapshot_options(args),
    )
    run = run_command(cmd, options, on_status=None if args.quiet else LiveStatus())
    finish_run(run, args)
    assert run.meta.exit is not None and run.meta.exit.returncode is not None
    return run.meta.exit.returncode
