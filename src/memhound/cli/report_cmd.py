"""memhound report RUN_DIR [--format text|json|html] [-o FILE]

Render a saved run as text (default), JSON, or HTML. HTML goes to RUN_DIR/report.html unless
-o is given; text and JSON go to stdout.
"""

from __future__ import annotations

import argparse

HELP = "re-render a saved run"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=("text", "json", "html"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")


def execute(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from memhound._fsutil import atomic_write
    from memhound.analysis.summary import load_run
    from memhound.cli._common import terminal_options
    from memhound.model.run import REPORT_FILE
    from memhound.reporters import get_reporter, load_result

    run = load_run(args.run_dir)
    options = {}
    if args.format == "text" and args.output is None:
        options = terminal_options(sys.stdout, run.meta.kind)
    page = get_reporter(run.meta.kind, args.format, **options).render(load_result(run))
    target = Path(args.output) if args.output else None
    if target is None and args.format == "html":
        target = run.path / REPORT_FILE
    if target is None:
        sys.stdout.write(page)
    else:
        atomic_write(target, page)
        print(f"wrote {target}", file=sys.stderr)
    return 0
