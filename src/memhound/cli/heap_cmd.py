"""memhound heap {summary,retainers,dominators,diff} FILE... [--json]

Analyse .heapsnapshot files: memhound's (memhound.snapshot()) or Node's
(v8.writeHeapSnapshot()), plain or gzipped.

  memhound heap summary app.heapsnapshot --top 20        per class: count, shallow, retained
  memhound heap retainers app.heapsnapshot --type app.models.Order --paths 3
  memhound heap retainers app.heapsnapshot --type Order   the same, when only one class
                                                          is named Order
  memhound heap retainers app.heapsnapshot --id 4711      how one object is held
  memhound heap dominators app.heapsnapshot --top 10      the biggest retained subtrees
  memhound heap diff a.heapsnapshot b.heapsnapshot        per class: new, deleted, delta
  memhound heap diff a b c                                three-snapshot method: new in b,
                                                          still alive in c
"""

from __future__ import annotations

import argparse

from memhound.cli._options import add_max_size, count

HELP = "analyse heap snapshots: summary, retainers, dominators, diff"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="heap_command", metavar="ACTION", required=True)
    s = sub.add_parser(
        "summary",
        prog="memhound heap summary",
        help="per class: count, shallow and retained size, distance",
    )
    s.add_argument("file", metavar="FILE")
    s.add_argument(
        "--by",
        choices=("type", "module", "site"),
        default="type",
        help="group by class (default), by the module defining the class, or by allocation "
        "site (snapshots taken under tracemalloc)",
    )
    s.add_argument("--top", type=count, default=30, metavar="N", help="rows to show (default 30)")
    s.add_argument("--json", action="store_true", help="print JSON")
    add_max_size(s)
    r = sub.add_parser(
        "retainers", prog="memhound heap retainers", help="shortest paths from the roots to objects"
    )
    r.add_argument("file", metavar="FILE")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--type",
        metavar="CLASS",
        help="the biggest objects of this class (app.models.Order, or Order when no other "
        "class has that name)",
    )
    which.add_argument("--id", type=int, metavar="N", help="the object with this node id")
    r.add_argument("--paths", type=count, default=3, metavar="K", help="paths per object (3)")
    r.add_argument("--objects", type=count, default=3, metavar="N", help="objects for --type (3)")
    r.add_argument("--json", action="store_true", help="print JSON")
    add_max_size(r)
    d = sub.add_parser(
        "dominators",
        prog="memhound heap dominators",
        help="objects with the biggest retained sizes",
    )
    d.add_argument("file", metavar="FILE")
    d.add_argument("--top", type=count, default=20, metavar="N", help="rows to show (default 20)")
    d.add_argument("--json", action="store_true", help="print JSON")
    add_max_size(d)
    f = sub.add_parser(
        "diff",
        prog="memhound heap diff",
        help="compare two snapshots, or three (the three-snapshot method)",
    )
    f.add_argument("files", metavar="FILE", nargs="+", help="A B, or A B C")
    f.add_argument("--top", type=count, default=30, metavar="N", help="rows to show (default 30)")
    f.add_argument("--paths", type=count, default=1, metavar="K", help="paths per group (A B C)")
    f.add_argument("--json", action="store_true", help="print JSON")
    add_max_size(f)


def execute(args: argparse.Namespace) -> int:
    import sys

    from memhound.errors import UsageError
    from memhound.heap import graph as g
    from memhound.heap.diff import diff, three_snapshot
    from memhound.heap.v8format import load
    from memhound.reporters import heap as report
    from memhound.units import parse_bytes

    out = sys.stdout
    max_size = None
    if args.max_size is not None:
        max_size = parse_bytes(args.max_size)
        if max_size <= 0:
            raise UsageError("--max-size must be more than 0", hint="e.g. --max-size 8GiB")
    action = args.heap_command
    if action == "diff":
        if len(args.files) not in (2, 3):
            raise UsageError(
                f"diff takes two or three snapshot files, got {len(args.files)}",
                hint="memhound heap diff A B  (or A B C for the three-snapshot method)",
            )
        snaps = [load(f, max_expanded=max_size) for f in args.files]
        if len(snaps) == 2:
            rows = diff(snaps[0], snaps[1])
            if args.json:
                out.write(report.to_json("diff", args.files, {"classes": rows[: args.top]}))
            else:
                out.write(report.diff_text(rows, args.top))
            return 0
        graph_c = g.analyse(snaps[2])
        groups = three_snapshot(snaps[0], snaps[1], snaps[2], graph_c, paths=args.paths)
        if args.json:
            out.write(report.to_json("leaks", args.files, {"groups": groups[: args.top]}))
        else:
            out.write(report.leaks_text(groups, args.top))
        return 0
    snap = load(args.file, max_expanded=max_size)
    graph = g.analyse(snap)
    if action == "summary":
        classes = g.summary(graph, top=args.top, by=args.by)
        if args.json:
            out.write(report.to_json("summary", [args.file], {"classes": classes}))
        else:
            out.write(report.summary_text(graph, classes))
    elif action == "dominators":
        doms = g.top_dominators(graph, args.top)
        if args.json:
            out.write(report.to_json("dominators", [args.file], {"dominators": doms}))
        else:
            out.write(report.dominators_text(graph, doms))
    else:
        if args.id is not None:
            node = g.node_of_id(graph, args.id)
            if node is None:
                raise UsageError(
                    f"no node with id {args.id} in {args.file}",
                    hint="ids are shown as @N by `memhound heap dominators` and `retainers`",
                )
            nodes = [node]
        else:
            named = g.classes_named(graph, args.type)
            if not named:
                raise UsageError(
                    f"no object of class {args.type!r} in {args.file}",
                    hint="`memhound heap summary FILE` lists the classes",
                )
            if len(named) > 1:
                raise UsageError(
                    f"{args.type!r} names {len(named)} classes in {args.file}: "
                    + ", ".join(f"{c} ({n:,} objects)" for c, n in named),
                    hint=f"give the one you mean in full, e.g. --type {named[0][0]}",
                )
            found = g.nodes_of_class(graph, named[0][0])
            nodes = [int(n) for n in found[: args.objects]]
        result = [
            (g.describe(graph, n), g.retainer_paths(graph, n, paths=args.paths)) for n in nodes
        ]
        if args.json:
            payload = {"objects": [{"object": d, "paths": p} for d, p in result]}
            out.write(report.to_json("retainers", [args.file], payload))
        else:
            out.write(report.retainers_text(graph, result))
    return 0
