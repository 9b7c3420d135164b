"""The ``memhound`` command. Parsing only: each command's module loads when it runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from memhound import __version__
from memhound.errors import MemhoundError

COMMANDS = {
    "run": "memhound.cli.run_cmd",
    "watch": "memhound.cli.watch_cmd",
    "report": "memhound.cli.report_cmd",
}

EPILOG = """examples:
  memhound run -- python export_job.py       memory of a job over time, peak, report.html
  memhound run --trace-python -- python -m app  ... plus the Python heap (tracemalloc)
  memhound watch --pid 4242 --duration 60s    an existing process tree
  memhound report memhound-runs/2026...       re-render a saved run (text, json, html)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memhound",
        description="Find out where a Python program's memory goes and why it does not come back.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"memhound {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def sampling(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--interval",
            default="50ms",
            metavar="TIME",
            help="sampling interval, e.g. 10ms, 0.5s (default: 50ms)",
        )
        p.add_argument(
            "-o",
            "--output",
            metavar="DIR",
            help="the run directory to write (default: a new one under ./memhound-runs/)",
        )
        p.add_argument(
            "--runs-dir",
            default="memhound-runs",
            metavar="DIR",
            help="where new run directories go (default: ./memhound-runs)",
        )
        p.add_argument(
            "--limit",
            metavar="SIZE",
            help="the memory limit the job runs under, e.g. 2GiB; used to judge an "
            "OOM kill (default: the cgroup's limit, where readable)",
        )
        p.add_argument(
            "--report",
            choices=("text", "json", "none"),
            default="text",
            help="the report printed to stderr at the end (default: text)",
        )
        p.add_argument("--no-html", action="store_true", help="do not write report.html")
        p.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="no live status line and no report at the end",
        )

    run = sub.add_parser(
        "run",
        help="run a command and record its memory over time",
        description="Start CMD, sample the memory of its whole process tree until it exits, "
        "and save a run (run.json, timeline.jsonl, report.html). The exit status of CMD "
        "is passed through.",
        usage="memhound run [options] -- CMD [ARGS...]",
    )
    sampling(run)
    run.add_argument(
        "--no-agent",
        action="store_true",
        help="do not start memhound's agent in Python children (no gc events, "
        "no checkpoints on the timeline)",
    )
    run.add_argument(
        "--trace-python",
        action="store_true",
        help="start tracemalloc in Python children and record the traced heap "
        "(slows allocation-heavy code 5-8x)",
    )
    run.add_argument(
        "--gc-keep",
        type=int,
        default=20,
        metavar="N",
        help="how many of the last gc collections the report lists (default: 20)",
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    watch = sub.add_parser(
        "watch",
        help="record the memory of a running process tree",
        description="Sample an existing process and its descendants until it exits, the "
        "duration passes, or Ctrl-C; save a run like `memhound run` does.",
    )
    watch.add_argument("--pid", type=int, required=True, help="the process to watch")
    watch.add_argument("--duration", metavar="TIME", help="stop after this long, e.g. 60s, 5m")
    sampling(watch)

    report = sub.add_parser(
        "report",
        help="re-render a saved run",
        description="Render a saved run as text (default), JSON, or HTML. HTML goes to "
        "RUN_DIR/report.html unless -o is given; text and JSON go to stdout.",
    )
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--format", choices=("text", "json", "html"), default="text")
    report.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return int(module.execute(args))
    except MemhoundError as exc:
        print(f"memhound {args.command}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"memhound {args.command}: interrupted", file=sys.stderr)
        return 130
