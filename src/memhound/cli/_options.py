"""Options several commands share (argparse only: imported while building the parser)."""

from __future__ import annotations

import argparse


def count(text: str) -> int:
    """An argparse type: a whole number of at least 1 (rows, paths, objects)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is too small: give 1 or more")
    return n


def add_max_size(p: argparse.ArgumentParser) -> None:
    """``--max-size``: how far a gzipped heap snapshot may expand while it is read."""
    p.add_argument(
        "--max-size",
        metavar="SIZE",
        help="read a gzipped snapshot that expands to at most SIZE, e.g. 8GiB (default: 40 "
        "times the file's size, at least 256MiB)",
    )


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    """Sampling and run-directory options of ``run`` and ``watch``."""
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
    p.add_argument(
        "--postgres",
        metavar="DSN",
        help="also watch this PostgreSQL server's backends that belong to the process tree",
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        help="also watch this Redis server's clients that belong to the process tree",
    )
    p.add_argument(
        "--resource-interval",
        default="1s",
        metavar="TIME",
        help="how often fds, sockets, threads and server sessions are counted "
        "(default: 1s; 0 turns it off)",
    )
    p.add_argument("--no-html", action="store_true", help="do not write report.html")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no live status line and no report at the end",
    )
