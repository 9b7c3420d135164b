"""The ``memhound`` command.

Each command is a module of this package with ``HELP`` (one line for the command list),
``configure(parser)`` (its options: argparse only, no heavy imports at module level) and
``execute(args) -> int``; the library parts a command needs load only when it runs, so
``memhound --help`` stays instant. Errors are mapped to exit codes here, in one place.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from memhound import __version__
from memhound.errors import MemhoundError

#: command name -> module; the order is the order of ``memhound --help``.
COMMANDS = {
    "run": "memhound.cli.run_cmd",
    "watch": "memhound.cli.watch_cmd",
    "report": "memhound.cli.report_cmd",
    "profile": "memhound.cli.profile_cmd",
    "soak": "memhound.cli.soak_cmd",
    "snapshot": "memhound.cli.snapshot_cmd",
    "heap": "memhound.cli.heap_cmd",
    "imports": "memhound.cli.imports_cmd",
    "tune": "memhound.cli.tune_cmd",
}

EPILOG = """examples:
  memhound run -- python export_job.py       memory of a job over time, peak, report.html
  memhound run --trace-python -- python -m app  ... plus the Python heap (tracemalloc)
  memhound watch --pid 4242 --duration 60s    an existing process tree
  memhound report memhound-runs/2026...       re-render a saved run (text, json, html)
  memhound profile job.py                     allocated vs retained by line and type, peak
  memhound imports -m myapp --cutoff 0.3MiB   what importing each module costs
  memhound tune -- python job.py              allocator and gc settings side by side
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
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip()
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=doc.split("\n\n", 1)[1] if "\n\n" in doc else module.HELP,
            usage=doc.split("\n", 1)[0] if doc else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
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
