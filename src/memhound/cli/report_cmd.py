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

    from memhound.analysis.summary import load_run
    from memhound.model.run import REPORT_FILE
    from memhound.reporters import get_reporter

    run = load_run(args.run_dir)
    if run.meta.kind == "imports":
        from memhound.reporters.imports import (
            ImportsHtmlReporter,
            ImportsJsonReporter,
            ImportsTextReporter,
        )
        from memhound.workflows.imports import load_imports

        imports = load_imports(run)
        if args.format == "text":
            page = ImportsTextReporter().render(imports)
        elif args.format == "json":
            page = ImportsJsonReporter().render(imports)
        else:
            page = ImportsHtmlReporter().render(imports)
        return _write(page, args, run.path / REPORT_FILE)
    if run.meta.kind == "profile":
        from memhound.reporters.alloc import (
            AllocHtmlReporter,
            AllocJsonReporter,
            AllocTextReporter,
        )
        from memhound.workflows.profile import load_alloc

        alloc = load_alloc(run)
        if args.format == "text":
            page = AllocTextReporter().render(alloc)
        elif args.format == "json":
            page = AllocJsonReporter().render(alloc)
        else:
            page = AllocHtmlReporter().render(alloc)
        return _write(page, args, run.path / REPORT_FILE)
    if run.meta.kind == "soak":
        import json as _json

        from memhound.model.verdict import SOAK_FILE, SoakResult
        from memhound.reporters.soak import render_soak_html, render_soak_text

        try:
            soaked = SoakResult.from_dict(_json.loads((run.path / SOAK_FILE).read_text()))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            from memhound.errors import RunFormatError

            raise RunFormatError(
                f"{run.path / SOAK_FILE} is missing or damaged: {exc}",
                hint="the soak did not finish; run it again",
            ) from exc
        if args.format == "text":
            page = render_soak_text(soaked)
        elif args.format == "json":
            page = _json.dumps(soaked.to_dict(), indent=1) + "\n"
        else:
            page = render_soak_html(soaked)
        return _write(page, args, run.path / REPORT_FILE)
    if run.meta.kind == "tune":
        from memhound.reporters.tune import TuneHtmlReporter, TuneJsonReporter, TuneTextReporter
        from memhound.workflows.tune import load_tune

        result = load_tune(run)
        if args.format == "text":
            page = TuneTextReporter().render(result)
        elif args.format == "json":
            page = TuneJsonReporter().render(result)
        else:
            page = TuneHtmlReporter().render(result)
        return _write(page, args, run.path / REPORT_FILE)
    if args.format == "text":
        color = args.output is None and sys.stdout.isatty()
        reporter = get_reporter("text", color=color)
    else:
        reporter = get_reporter(args.format)
    return _write(reporter.render(run), args, run.path / REPORT_FILE)


def _write(text: str, args: argparse.Namespace, html_default: object) -> int:
    import sys
    from pathlib import Path

    from memhound._fsutil import atomic_write

    target = Path(args.output) if args.output else None
    if target is None and args.format == "html":
        target = Path(str(html_default))
    if target is None:
        sys.stdout.write(text)
    else:
        atomic_write(target, text)
        print(f"wrote {target}", file=sys.stderr)
    return 0
