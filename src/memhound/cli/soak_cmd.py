"""memhound soak (--wsgi M:APP | --asgi M:APP | --call M:FN | --url URL) [options]

Drive the app, watch what it retains after every batch of requests, and give a statistical
verdict: leak or plateau, bytes per request with its 95% interval, which endpoint grows, and
which objects (new after the first round of load, alive after the second) are held by what.
In-process (--wsgi, --asgi, --call) the app runs here, without sockets; with --url the load
goes over HTTP to a server memhound starts (--serve CMD) or one already running (--pid PID).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from memhound.load.http import HttpDriver
    from memhound.workflows.soak_server import Server

HELP = "drive the app, watch memory, and give a leak verdict"


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
        "Python heap), wait for the port, stop it at the end",
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
    p.add_argument("--json", action="store_true", help="print the verdict as JSON on stdout")
    p.add_argument("--fail-on-leak", action="store_true", help="exit 1 when it leaks")
    p.add_argument("-o", "--output", metavar="DIR", help="the run directory to write")
    p.add_argument("--runs-dir", default="memhound-runs", metavar="DIR")


def execute(args: argparse.Namespace) -> int:
    import json
    import sys
    import time
    from dataclasses import replace
    from pathlib import Path

    from memhound._fsutil import atomic_write, make_private_dir
    from memhound.errors import UsageError
    from memhound.model.run import open_run
    from memhound.model.verdict import SOAK_FILE
    from memhound.units import format_bytes, parse_bytes, parse_duration
    from memhound.workflows.soak import Progress, SoakOptions, soak

    if args.requests < 20:
        raise UsageError("--requests must be at least 20", hint="a verdict needs a series")
    if not 1 <= args.concurrency <= 1024:
        raise UsageError("--concurrency takes 1 to 1024")
    if args.max_urls < 1:
        raise UsageError("--max-urls must be at least 1")
    if not args.url:
        for flag in ("sitemap", "serve", "pid", "crawl"):
            if getattr(args, flag):
                raise UsageError(
                    f"--{flag} goes with --url", hint="e.g. --url http://127.0.0.1:8000/"
                )
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
    target = args.wsgi or args.asgi or args.call or args.url
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

    def say(text: str) -> None:
        if not args.json or tty:
            sys.stderr.write(f"memhound soak: {text}\n")

    def progress(p: Progress) -> None:
        if tty:
            slope = f"{format_bytes(p.slope, signed=True)}/req" if p.slope is not None else "-"
            sys.stderr.write(
                f"\r\x1b[Ksoak {p.done}/{p.total}  {p.requests_per_s:,.0f} req/s  "
                f"{'heap' if kind != 'rss' else 'RSS'} {format_bytes(p.traced_bytes)}  "
                f"slope {slope}"
            )
            sys.stderr.flush()

    options = SoakOptions(
        requests=args.requests,
        duration_s=parse_duration(args.duration) if args.duration else None,
        warmup=warmup,
        snapshots_dir=snap_dir,
        postgres=args.postgres,
        redis=args.redis,
        min_bytes_per_request=float(parse_bytes(args.min_leak)),
        concurrency=args.concurrency,
    )
    kind = "python-heap"
    server: Server | None = None
    driver: Any = None
    try:
        if args.url:
            from memhound.watchers.tree import ResourceSampler
            from memhound.workflows.soak_server import ServerMeter

            driver, server = _http_target(args, paths, writer.path, snap_dir, say)
            meter = ServerMeter(server, ResourceSampler(postgres=args.postgres, redis=args.redis))
            for note in meter.notes:
                say(note)
            kind = meter.primary
            say(
                f"{len(driver.endpoints)} URL(s) on {driver.origin.base}, server pid "
                f"{server.root}, judged on {'its Python heap' if kind != 'rss' else 'RSS'}"
            )
            result = soak(driver, target, options, on_progress=progress, meter=meter)
            result = replace(result, driver="http", server_pids=tuple(server.pids()))
            if meter.notes:
                result = replace(result, errors_watching=(*result.errors_watching, *meter.notes))
        else:
            from memhound.load.base import load_target

            app = load_target(target)
            name = "wsgi" if args.wsgi else "asgi" if args.asgi else "call"
            if args.wsgi:
                from memhound.load.wsgi import WsgiDriver

                driver = WsgiDriver(app, tuple(paths or ["/"]))
            elif args.asgi:
                from memhound.load.asgi import AsgiDriver

                driver = AsgiDriver(app, tuple(paths or ["/"]))
            else:
                from memhound.load.call import CallDriver

                driver = CallDriver(app, args.call)
            result = replace(soak(driver, target, options, on_progress=progress), driver=name)
    finally:
        if tty:
            sys.stderr.write("\r\x1b[K")
        close = getattr(driver, "close", None)
        if close is not None:
            close()
        if server is not None:
            server.stop()
    atomic_write(writer.path / SOAK_FILE, json.dumps(result.to_dict(), indent=1) + "\n")
    from memhound.reporters.soak import write_soak_html

    write_soak_html(result, writer.path / "report.html")
    writer.finish(replace(writer.meta, status="complete", duration_s=result.duration_s), None)
    if args.json:
        doc = result.to_dict()
        doc.pop("series")
        print(json.dumps(doc, indent=1))
    else:
        _print(result, writer.path)
    return 1 if args.fail_on_leak and result.leak else 0


def _http_target(
    args: argparse.Namespace,
    paths: list[str],
    run_dir: Path,
    snap_dir: Path | None,
    say: Callable[[str], None],
) -> tuple[HttpDriver, Server]:
    """The HTTP driver (URLs found) and the server (started, or attached to)."""
    from memhound.errors import UsageError
    from memhound.load.http import (
        HttpDriver,
        discover_links,
        parse_origin,
        sitemap_urls,
        wait_for_port,
    )
    from memhound.units import parse_duration
    from memhound.workflows.soak_server import Server

    origin = parse_origin(args.url, allow_remote=args.allow_remote)
    timeout = parse_duration(args.timeout)
    if not 0 < timeout <= 3600:
        raise UsageError(f"--timeout {args.timeout!r} is out of range", hint="e.g. --timeout 5s")
    for p in paths:
        if p.startswith(("http://", "https://")) and parse_origin(p, allow_remote=True) != origin:
            raise UsageError(
                f"{p} is not on {origin.base}", hint="a soak loads one server: same origin only"
            )
    if (
        args.sitemap
        and args.sitemap.startswith(("http://", "https://"))
        and parse_origin(args.sitemap, allow_remote=True) != origin
    ):
        raise UsageError(f"the sitemap {args.sitemap} is not on {origin.base}")
    server = None
    if args.serve:
        server = Server.start(
            args.serve,
            log=run_dir / "server.log",
            snapshot_dir=snap_dir,
        )
        say(f"started the server (pid {server.root}), waiting for {origin.base}")
        if not wait_for_port(origin, parse_duration(args.serve_timeout), server.alive):
            why = server.exit_description() or (
                f"it did not listen on {origin.base} within {args.serve_timeout}"
            )
            server.stop()
            raise UsageError(
                f"the server did not come up: {why}",
                hint="check the command and that it listens on the --url's host and port",
            )
    elif args.pid:
        server = Server.attach(args.pid)
    try:
        if not wait_for_port(origin, 0.5 if server is None or not args.serve else 5.0):
            raise UsageError(
                f"nothing listens on {origin.base}",
                hint="start the server first, or let memhound start it with --serve CMD",
            )
        if server is None:
            pid = _listener_pid(origin.port)
            if pid is None:
                raise UsageError(
                    f"cannot tell which process serves {origin.base}",
                    hint="give its pid with --pid PID, or start it with --serve CMD",
                )
            server = Server.attach(pid)
            say(f"found the server: pid {pid}")
        driver = HttpDriver(origin, tuple(paths), timeout_s=timeout)
        if args.sitemap:
            urls = sitemap_urls(driver, args.sitemap, max_urls=args.max_urls)
            driver = HttpDriver(origin, tuple(urls), timeout_s=timeout)
        elif not paths:
            start = args.url
            urls = discover_links(driver, start, max_urls=args.max_urls)
            driver = HttpDriver(origin, tuple(urls), timeout_s=timeout)
            say(f"found {len(urls)} URL(s) by following links from {start}")
        else:
            driver = HttpDriver(origin, tuple(paths[: args.max_urls]), timeout_s=timeout)
        return driver, server
    except BaseException:
        if server is not None and args.serve:
            server.stop()
        raise


def _listener_pid(port: int) -> int | None:
    """The process listening on this machine's TCP ``port`` (one we may read), or None."""
    import psutil

    try:
        conns = psutil.net_connections("tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return int(c.pid)
    return None


def _print(result: object, path: object) -> None:
    from memhound.model.verdict import SoakResult
    from memhound.reporters.soak import render_soak_text

    assert isinstance(result, SoakResult)
    print(render_soak_text(result), end="")
    print(f"  saved in {path}")
