"""Options several commands share (argparse only: imported while building the parser)."""

from __future__ import annotations

import argparse


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
