"""memhound snapshot --pid PID [-o FILE] [--timeout TIME]

Have a running Python process write a heap snapshot (V8 .heapsnapshot): by the signal its
memhound agent listens to (memhound run --snapshot-on-signal), or by injecting the snapshot
code with gdb (Python < 3.14) or sys.remote_exec (3.14+). PID may be a launcher (a shell, a
pyenv shim): the Python process in its tree is used. The process keeps running.
"""

from __future__ import annotations

import argparse

HELP = "heap snapshot of a running Python process"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=int, required=True, help="the process (or its launcher)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the snapshot")
    p.add_argument("--timeout", default="120s", metavar="TIME", help="default: 120s")
    p.add_argument(
        "--redact-strings",
        action="store_true",
        help="write the text of strings and bytes as their lengths only (tokens, passwords)",
    )


def execute(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from memhound.units import parse_duration
    from memhound.workflows.attach import snapshot_pid

    path = snapshot_pid(
        args.pid,
        Path(args.output) if args.output else None,
        timeout_s=parse_duration(args.timeout),
        redact_strings=args.redact_strings,
    )
    print(path)
    print(f"read it with: memhound heap summary {path}", file=sys.stderr)
    return 0
