"""memhound soak (--wsgi M:APP | --asgi M:APP | --call M:FN | --url URL) [options]

Drive the app, watch what it retains after every batch of requests, and give a statistical
verdict: leak or plateau, bytes per request with its 95% interval, which endpoint grows, and
which objects (new after the first round of load, alive after the second) are held by what.
When more than --max-errors of the requests fail (no answer, or one outside 2xx/3xx) or too
few samples follow the warm-up, the verdict is "inconclusive", with the reason.
In-process (--wsgi, --asgi, --call) the app runs here, without sockets; with --url the load
goes over HTTP to a server memhound starts (--serve CMD) or one already running (--pid PID).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memhound.workflows.soak import SoakPlan

HELP = "drive the app, watch memory, and give a leak verdict"

#: Exit statuses with --fail-on-leak (without it, 0 whatever the verdict: it is in the report).
#: 2 is taken by usage errors (memhound.errors), 127 and 130 by the CLI.
EXIT_LEAK = 1
EXIT_INCONCLUSIVE = 3


def configure(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--wsgi", metavar="MODULE:APP", help="a WSGI app, called in-process")
    what.add_argument("--asgi", metavar="MODULE:APP", help="an ASGI app, called in-process")
    what.add_argument("--call", metavar="MODULE:FUNCTION", help="one call is one unit of work")
    what.add_argument(
        "--url", metavar="URL", help="a real HTTP server (loopback only unless --allow-remote)"
    )
    p.add_argument(
        "--path",
        action="append",
        metavar="PATH",
        help="a URL path to request (repeat for several; default /)",
    )
    p.add_argument("--urls", metavar="FILE", help="URL paths (or same-origin URLs), one per line")
    http = p.add_argument_group("with --url")
    http.add_argument(
        "--sitemap",
        metavar="URL",
        help="take the URLs from this sitemap.xml (sitemap indexes are followed)",
    )
    http.add_argument(
        "--crawl",
        action="store_true",
        help="find the URLs by following same-origin links from --url "
        "(the default when no --path, --urls or --sitemap is given)",
    )
    http.add_argument(
        "--max-urls", type=int, default=50, help="at most this many URLs (default: 50)"
    )
    server = http.add_mutually_exclusive_group()
    server.add_argument(
        "--serve",
        metavar="CMD",
        help="start the server with this command (memhound's agent inside, to measure its "
        "Python heap), wait for the port (which must be free before, and answered by this "
        "command's processes after), stop it at the end",
    )
    server.add_argument(
        "--pid",
        type=int,
        help="the running server's pid: its whole process tree is measured (RSS, fds, threads)",
    )
    http.add_argument(
        "--serve-timeout",
        default="30s",
        metavar="TIME",
        help="how long --serve waits for the port (default: 30s)",
    )
    http.add_argument(
        "--allow-remote", action="store_true", help="allow a host that is not this machine"
    )
    http.add_argument(
        "--timeout",
        default="10s",
        metavar="TIME",
        help="per request (default: 10s); 10 requests in a row without an answer end the soak",
    )
    p.add_argument("-n", "--requests", type=int, default=2000, help="default: 2000")
    p.add_argument("--duration", metavar="TIME", help="stop after this long")
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (threads; tasks on the loop for --asgi; default 1)",
    )
    p.add_argument(
        "--warmup",
        default="auto",
        metavar="N|auto",
        help="requests to discard before judging (default: a tenth, >= 50)",
    )
    p.add_argument(
        "--no-snapshots",
        action="store_true",
        help="skip the three heap snapshots (no 'what grows and what holds it')",
    )
    p.add_argument(
        "--redact-strings",
        action="store_true",
        help="write the heap snapshots without the text of strings and bytes (their lengths "
        "only), so tokens and passwords stay out of the files",
    )
    p.add_argument(
        "--min-leak",
        default="16B",
        metavar="SIZE",
        help="the smallest growth per request called a leak (default: 16B)",
    )
    p.add_argument(
        "--postgres",
        metavar="DSN",
        help="also count the target's PostgreSQL sessions at every sample",
    )
    p.add_argument(
        "--redis", metavar="URL", help="also count the target's Redis connections at every sample"
    )
    p.add_argument(
        "--max-errors",
        default="5%",
        metavar="PERCENT",
        help="failed requests (no answer, or not 2xx/3xx) tolerated before the verdict is "
        "inconclusive (default: 5%%)",
    )
    p.add_argument(
        "--limit",
        action="append",
        metavar="RESOURCE=N",
        help="the most fds, threads, postgres.backends, redis.clients or "
        "sqlalchemy.checked_out the target may hold (e.g. --limit fds=500), when it is not "
        "the limit memhound reads (RLIMIT_NOFILE, pids.max, max_connections, maxclients, a "
        "pool's size); repeatable",
    )
    p.add_argument("--json", action="store_true", help="print the verdict as JSON on stdout")
    p.add_argument(
        "--fail-on-leak",
        action="store_true",
        help=f"exit {EXIT_LEAK} when it leaks, {EXIT_INCONCLUSIVE} when the verdict is "
        "inconclusive (too many errors, too few samples)",
    )
    p.add_argument("-o", "--output", metavar="DIR", help="the run directory to write")
    p.add_argument("--runs-dir", default="memhound-runs", metavar="DIR")


def execute(args: argparse.Namespace) -> int:
    import sys

    from memhound.cli._common import finish
    from memhound.units import format_bytes
    from memhound.workflows.soak import Progress, run_soak

    plan = _plan(args)
    tty = sys.stderr.isatty()

    def say(text: str) -> None:
        if not args.json or tty:
            sys.stderr.write(f"memhound soak: {text}\n")

    def progress(p: Progress) -> None:
        if tty:
            slope = f"{format_bytes(p.slope, signed=True)}/req" if p.slope is not None else "-"
            sys.stderr.write(
                f"\r\x1b[Ksoak {p.done}/{p.total}  {p.requests_per_s:,.0f} req/s  "
                f"{'heap' if p.measured != 'rss' else 'RSS'} {format_bytes(p.traced_bytes)}  "
                f"slope {slope}"
            )
            sys.stderr.flush()

    try:
        result, run = run_soak(plan, say=say, on_progress=progress)
    finally:
        if tty:
            sys.stderr.write("\r\x1b[K")
    finish(
        run.path,
        "soak",
        result,
        fmt="json" if args.json else "text",
        json_options={"series": False},  # thousands of points: report.html and soak.json have them
    )
    if not args.fail_on_leak:
        return 0
    if result.leak is None:
        return EXIT_INCONCLUSIVE
    return EXIT_LEAK if result.leak else 0


def _plan(args: argparse.Namespace) -> SoakPlan:
    """The options, checked, as one ``SoakPlan``."""
    from pathlib import Path

    from memhound.errors import UsageError
    from memhound.units import parse_bytes, parse_duration
    from memhound.workflows.soak import HttpOptions, SoakOptions, SoakPlan

    if args.requests < 20:
        raise UsageError("--requests must be at least 20", hint="a verdict needs a series")
    if not 1 <= args.concurrency <= 1024:
        raise UsageError("--concurrency takes 1 to 1024")
    if args.max_urls < 1:
        raise UsageError("--max-urls must be at least 1")
    if args.redact_strings and args.no_snapshots:
        raise UsageError(
            "--redact-strings applies to the heap snapshots, which --no-snapshots turns off",
            hint="drop one of the two",
        )
    if not args.url:
        for flag in ("sitemap", "serve", "pid", "crawl"):
            if getattr(args, flag):
                raise UsageError(
                    f"--{flag} goes with --url", hint="e.g. --url http://127.0.0.1:8000/"
                )
    max_errors = _percent(args.max_errors)
    warmup = None
    if args.warmup != "auto":
        if not args.warmup.isdigit():
            raise UsageError(f"--warmup takes a number or 'auto', not {args.warmup!r}")
        warmup = int(args.warmup)
    paths = list(args.path or [])
    if args.urls:
        try:
            paths += [
                ln.strip()
                for ln in Path(args.urls).read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")
            ]
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {args.urls}: {exc}") from exc
    http = HttpOptions()
    if args.url:
        timeout = parse_duration(args.timeout)
        if not 0 < timeout <= 3600:
            raise UsageError(
                f"--timeout {args.timeout!r} is out of range", hint="e.g. --timeout 5s"
            )
        http = HttpOptions(
            sitemap=args.sitemap,
            max_urls=args.max_urls,
            serve=args.serve,
            pid=args.pid,
            serve_timeout_s=parse_duration(args.serve_timeout) if args.serve else 30.0,
            allow_remote=args.allow_remote,
            timeout_s=timeout,
        )
    driver = "wsgi" if args.wsgi else "asgi" if args.asgi else "call" if args.call else "http"
    return SoakPlan(
        driver=driver,
        target=args.wsgi or args.asgi or args.call or args.url,
        paths=tuple(paths),
        options=SoakOptions(
            requests=args.requests,
            duration_s=parse_duration(args.duration) if args.duration else None,
            warmup=warmup,
            postgres=args.postgres,
            redis=args.redis,
            min_bytes_per_request=float(parse_bytes(args.min_leak)),
            concurrency=args.concurrency,
            max_errors=max_errors,
            limits=_limits(args.limit or []),
            redact_strings=args.redact_strings,
        ),
        snapshots=not args.no_snapshots,
        http=http,
        output_dir=Path(args.output) if args.output else None,
        runs_dir=Path(args.runs_dir),
    )


#: what --limit can name (workflows.soak.engine.SATURABLE, without importing it for --help)
_LIMITED = ("fds", "threads", "postgres.backends", "redis.clients", "sqlalchemy.checked_out")


def _limits(given: list[str]) -> tuple[tuple[str, int], ...]:
    """``--limit fds=500`` -> (("fds", 500),)."""
    from memhound.errors import UsageError

    out = []
    for text in given:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or name not in _LIMITED or not value.strip().isdigit():
            raise UsageError(
                f"--limit takes {'=N, '.join(_LIMITED)}=N, not {text!r}",
                hint="e.g. --limit fds=1024",
            )
        out.append((name, int(value)))
    return tuple(out)


def _percent(text: str) -> float:
    """``--max-errors 5%`` -> 0.05. The sign is required: is 0.05 meant as 5% or 0.05%?"""
    from memhound.errors import UsageError

    number = text.strip().removesuffix("%")
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not text.strip().endswith("%") or not 0 <= value <= 100:
        raise UsageError(
            f"--max-errors takes a percentage from 0% to 100%, not {text!r}",
            hint="e.g. --max-errors 5% (0% for none)",
        )
    return value / 100
