"""memhound profile (SCRIPT [ARGS...] | -m MODULE [ARGS...]) [options]

Run a Python script or module in this interpreter with memhound's allocation engine on and
report where its memory went: allocated (also what was freed again), retained (still alive at
the end, after a full gc, by type), what held the peak, and the most repeated strings, by
package, file and line. Saves a run (alloc.json, report.html with tables and an icicle chart of
the allocation stacks). The report is written also when the program exits with SystemExit or
is interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse

from memhound.cli._options import count

HELP = "allocated vs retained memory by package, file, line and type; the peak; strings"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", dest="module", metavar="MODULE", help="run MODULE (like python -m)")
    p.add_argument("script", nargs=argparse.REMAINDER, help="a script to run (and its arguments)")
    p.add_argument("--top", type=count, default=50, metavar="N", help="rows per table (default 50)")
    p.add_argument(
        "--frames", type=int, default=8, metavar="N", help="stack depth (1-64, default 8)"
    )
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PATTERN",
        help="count only locations matching (glob or substring of path, package, path:line)",
    )
    p.add_argument("--ignore", action="append", default=[], metavar="PATTERN")
    p.add_argument("--include-memhound", action="store_true", help="keep memhound's own frames")
    p.add_argument("--engine", choices=("auto", "native", "tracemalloc"), default="auto")
    p.add_argument(
        "--sample",
        metavar="SIZE",
        help="sample by bytes, one sample per SIZE allocated on average (512KiB is the usual "
        "choice): cheap, and the figures are estimates with a 95%% interval; without it every "
        "allocation is counted",
    )
    p.add_argument("--rows", type=int, default=10, metavar="N", help="rows per table in text")
    p.add_argument("--format", choices=("text", "json", "none"), default="text")
    p.add_argument("-o", "--output", metavar="DIR", help="the run directory to write")
    p.add_argument("--runs-dir", default="memhound-runs", metavar="DIR")
    p.add_argument("--no-html", action="store_true", help="do not write report.html")
    # memhound run --profile: alloc.json and alloc.html into the run it records
    p.add_argument("--into-run", metavar="DIR", help=argparse.SUPPRESS)


def execute(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from memhound.cli._common import finish
    from memhound.errors import UsageError
    from memhound.model.run import REPORT_FILE
    from memhound.workflows.profile import (
        ALLOC_HTML,
        ProfileOptions,
        ProfileTarget,
        profile_program,
    )

    rest = list(args.script or [])
    if rest and rest[0] == "--":
        rest = rest[1:]
    if args.module:
        target = ProfileTarget("module", args.module, tuple(rest))
    elif rest:
        target = ProfileTarget("script", rest[0], tuple(rest[1:]))
    else:
        raise UsageError("nothing to profile", hint="memhound profile SCRIPT [ARGS] | -m MODULE")
    sample = 0
    if args.sample is not None:
        from memhound.units import parse_bytes

        sample = parse_bytes(args.sample)
        if sample == 0:
            raise UsageError("--sample 0 would sample nothing", hint="e.g. --sample 512KiB")
    options = ProfileOptions(
        sample=sample,
        top=args.top,
        allow=tuple(args.allow),
        ignore=tuple(args.ignore),
        frames=args.frames,
        include_own=args.include_memhound,
        engine=args.engine,
    )
    path, report, code = profile_program(
        target,
        options,
        output_dir=Path(args.output) if args.output else None,
        runs_dir=Path(args.runs_dir),
        into=Path(args.into_run) if args.into_run else None,
    )
    finish(
        path,
        "profile",
        report,
        fmt=args.format,
        page=None if args.no_html else ALLOC_HTML if args.into_run else REPORT_FILE,
        text_options={"rows": args.rows},
        text_to=sys.stderr,  # stdout is the profiled program's
    )
    return code
