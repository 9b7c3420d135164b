"""memhound imports (-m MODULE | SCRIPT [ARGS...] | --requirements [DIR]) [options]

Import the target in a fresh interpreter and show what each import cost as a tree: RSS
added, Python heap added (tracemalloc, in a second run) and wall time, inclusive of what
each module imported in turn, with "also imported by" for modules reached from several
places. Saves a run (imports.json, report.html with an icicle chart).
"""

from __future__ import annotations

import argparse

HELP = "what importing each module costs, as a tree"


def configure(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group()
    what.add_argument("-m", dest="module", metavar="MODULE", help="import MODULE")
    what.add_argument(
        "--requirements",
        nargs="?",
        const=".",
        metavar="DIR",
        help="import every top-level module of the distributions the project in DIR depends "
        "on (pyproject.toml [project] dependencies, or requirements.txt; default: .)",
    )
    p.add_argument("script", nargs=argparse.REMAINDER, help="a script to run (and its arguments)")
    p.add_argument("--python", metavar="PATH", help="the interpreter (default: this one)")
    p.add_argument(
        "--no-traced", action="store_true", help="skip the tracemalloc run (no Python heap)"
    )
    p.add_argument("--sort", choices=("rss", "traced", "time"), default="rss")
    p.add_argument(
        "--cutoff",
        metavar="AMOUNT",
        help="fold modules below this (e.g. 0.3MiB, or 5ms with --sort time)",
    )
    p.add_argument("--top", type=int, metavar="N", help="show only the N biggest top-level imports")
    p.add_argument(
        "--by-distribution", action="store_true", help="sum per installed distribution instead"
    )
    p.add_argument("--format", choices=("text", "json", "none"), default="text")
    p.add_argument("--timeout", default="600s", metavar="TIME", help="per run (default: 600s)")
    p.add_argument("-o", "--output", metavar="DIR", help="the run directory to write")
    p.add_argument("--runs-dir", default="memhound-runs", metavar="DIR")
    p.add_argument("--no-html", action="store_true", help="do not write report.html")


def cutoff_value(args: argparse.Namespace) -> float:
    from memhound.units import parse_bytes, parse_duration

    if not args.cutoff:
        return 0.0
    return parse_duration(args.cutoff) if args.sort == "time" else float(parse_bytes(args.cutoff))


def execute(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from memhound.cli._common import finish
    from memhound.errors import UsageError
    from memhound.model.run import REPORT_FILE
    from memhound.units import parse_duration
    from memhound.workflows.imports import (
        ImportTarget,
        measure_imports,
        requirement_modules,
        requirement_names,
        save_imports_run,
    )

    script = [a for a in args.script if a != "--"] if args.script else []
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be 1 or more")
    cutoff = cutoff_value(args)
    if args.module:
        target = ImportTarget("module", (args.module,))
    elif args.requirements is not None:
        names = requirement_names(Path(args.requirements))
        modules = requirement_modules(names, args.python)
        if not modules:
            raise UsageError("the project's dependencies have no importable top-level modules")
        target = ImportTarget("modules", tuple(modules))
    elif script:
        target = ImportTarget("script", tuple(script))
    else:
        raise UsageError(
            "nothing to import", hint="memhound imports -m MODULE | SCRIPT | --requirements"
        )
    started = time.time()
    report = measure_imports(
        target,
        python=args.python,
        trace=not args.no_traced,
        timeout_s=parse_duration(args.timeout),
    )
    run = save_imports_run(
        report,
        output_dir=Path(args.output) if args.output else None,
        runs_dir=Path(args.runs_dir),
        started_epoch_s=started,
    )
    finish(
        run.path,
        "imports",
        report,
        fmt=args.format,
        page=None if args.no_html else REPORT_FILE,
        text_options={
            "sort": args.sort,
            "cutoff": cutoff,
            "top": args.top,
            "by_distribution": args.by_distribution,
        },
    )
    return 0 if report.ok else 1
