"""memhound soak (--wsgi MODULE:APP | --call MODULE:FUNCTION) [options]

Drive the app in-process (each request one call, no sockets), watch what it retains after
every batch (tracemalloc, RSS, fds, threads), and give a statistical verdict: leak or
plateau, bytes per request with its 95% interval, which endpoint grows, and which objects
(new after the first round of load, alive after the second) are held by what.
"""

from __future__ import annotations

import argparse

HELP = "drive the app, watch memory, and give a leak verdict"


def configure(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--wsgi", metavar="MODULE:APP", help="a WSGI app, called in-process")
    what.add_argument("--call", metavar="MODULE:FUNCTION", help="one call is one unit of work")
    p.add_argument(
        "--path",
        action="append",
        metavar="PATH",
        help="a URL path to request (repeat for several; default /)",
    )
    p.add_argument("--urls", metavar="FILE", help="URL paths to request, one per line")
    p.add_argument("-n", "--requests", type=int, default=2000, help="default: 2000")
    p.add_argument("--duration", metavar="TIME", help="stop after this long")
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
        "--min-leak",
        default="16B",
        metavar="SIZE",
        help="the smallest growth per request called a leak (default: 16B)",
    )
    p.add_argument(
        "--postgres",
        metavar="DSN",
        help="also count this process's PostgreSQL sessions at every sample",
    )
    p.add_argument(
        "--redis", metavar="URL", help="also count this process's Redis connections at every sample"
    )
    p.add_argument("--json", action="store_true", help="print the verdict as JSON on stdout")
    p.add_argument("--fail-on-leak", action="store_true", help="exit 1 when it leaks")
    p.add_argument("-o", "--output", metavar="DIR", help="the run directory to write")
    p.add_argument("--runs-dir", default="memhound-runs", metavar="DIR")


def execute(args: argparse.Namespace) -> int:
    import json
    import sys
    import time
    from pathlib import Path

    from memhound._fsutil import atomic_write, make_private_dir
    from memhound.errors import UsageError
    from memhound.load.base import Driver, load_target
    from memhound.model.verdict import SOAK_FILE
    from memhound.runner import open_run
    from memhound.soak import Progress, SoakOptions, soak
    from memhound.units import format_bytes, parse_bytes, parse_duration

    if args.requests < 20:
        raise UsageError("--requests must be at least 20", hint="a verdict needs a series")
    warmup = None
    if args.warmup != "auto":
        if not args.warmup.isdigit():
            raise UsageError(f"--warmup takes a number or 'auto', not {args.warmup!r}")
        warmup = int(args.warmup)
    paths = list(args.path or [])
    if args.urls:
        try:
            paths += [ln.strip() for ln in Path(args.urls).read_text().splitlines() if ln.strip()]
        except OSError as exc:
            raise UsageError(f"cannot read {args.urls}: {exc.strerror or exc}") from exc
    driver: Driver
    if args.wsgi:
        from memhound.load.wsgi import WsgiDriver

        driver = WsgiDriver(load_target(args.wsgi), tuple(paths or ["/"]))
        target = args.wsgi
    else:
        from memhound.load.call import CallDriver

        driver = CallDriver(load_target(args.call), args.call)
        target = args.call
    started = time.time()
    writer = open_run(
        "soak",
        ("soak", target),
        started,
        output_dir=Path(args.output) if args.output else None,
        runs_dir=Path(args.runs_dir),
    )
    snap_dir = None if args.no_snapshots else make_private_dir(writer.path / "snapshots")
    tty = sys.stderr.isatty()

    def progress(p: Progress) -> None:
        if tty:
            slope = f"{format_bytes(p.slope, signed=True)}/req" if p.slope is not None else "-"
            sys.stderr.write(
                f"\r\x1b[Ksoak {p.done}/{p.total}  {p.requests_per_s:,.0f} req/s  "
                f"heap {format_bytes(p.traced_bytes)}  slope {slope}"
            )
            sys.stderr.flush()

    result = soak(
        driver,
        target,
        SoakOptions(
            requests=args.requests,
            duration_s=parse_duration(args.duration) if args.duration else None,
            warmup=warmup,
            snapshots_dir=snap_dir,
            postgres=args.postgres,
            redis=args.redis,
            min_bytes_per_request=float(parse_bytes(args.min_leak)),
        ),
        on_progress=progress,
    )
    if tty:
        sys.stderr.write("\r\x1b[K")
    atomic_write(writer.path / SOAK_FILE, json.dumps(result.to_dict(), indent=1) + "\n")
    from dataclasses import replace

    writer.finish(replace(writer.meta, status="complete", duration_s=result.duration_s), None)
    if args.json:
        doc = result.to_dict()
        doc.pop("series")
        print(json.dumps(doc, indent=1))
    else:
        _print(result, writer.path)
    return 1 if args.fail_on_leak and result.leak else 0


def _print(result: object, path: object) -> None:
    from memhound.model.verdict import SoakResult
    from memhound.units import format_bytes

    assert isinstance(result, SoakResult)
    lo, hi = result.ci95
    print(
        f"memhound soak: {result.target}: {result.requests} requests in "
        f"{result.duration_s:.1f}s ({result.requests_per_s:,.0f} req/s), "
        f"{result.warmup_requests} warm-up"
    )
    word = "LEAK" if result.leak else "no leak (plateau)"
    print(
        f"  verdict: {word}: {format_bytes(result.bytes_per_request, signed=True)} per request"
        f" (95% CI {format_bytes(lo, signed=True)} to {format_bytes(hi, signed=True)}), "
        f"Python heap; RSS {format_bytes(result.rss_bytes_per_request, signed=True)}/request"
    )
    for name, r in result.resources.items():
        state = "GROWING" if r.leak else "steady"
        print(f"  {name}: {r.first} -> {r.last}, {r.per_request:+.3f} per request ({state})")
    if result.left_open:
        print("  opened during the soak and still open at its end:")
        for x in result.left_open[:10]:
            print(f"    {x.count:>6} x {x.what}, created at {x.created_at}")
    for err in result.errors_watching:
        print(f"  not watched: {err}")
    if result.per_endpoint:
        print("  per endpoint:")
        for e in result.per_endpoint:
            state = "LEAK" if e.leak else "ok"
            print(
                f"    {e.endpoint:<30} {format_bytes(e.bytes_per_request, signed=True):>12}"
                f"/request  {state}"
            )
    if result.growing:
        print("  new after the first round of load and still alive after the second:")
        for g in result.growing:
            print(
                f"    {g.count:>7,} {g.class_name} ({format_bytes(g.retained_bytes)} retained)"
                f"  held by: {g.path}"
            )
    print(f"  saved in {path}")
