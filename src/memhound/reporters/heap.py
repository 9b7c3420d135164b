"""Text and JSON renderings of heap analyses (``memhound heap ...``). Presentation only."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from memhound.heap.diff import LeakGroup, TypeDelta
from memhound.heap.graph import Dominator, HeapGraph, RetainerPath, TypeSummary
from memhound.units import format_bytes

#: version of the JSON documents ``memhound heap ... --json`` prints
JSON_VERSION = 1


def to_json(kind: str, source: list[str], payload: Any) -> str:
    """``{"format": "memhound-heap", "version": 1, "kind": ..., "files": [...], ...}``."""
    doc = {"format": "memhound-heap", "version": JSON_VERSION, "kind": kind, "files": source}
    doc.update(payload)
    return json.dumps(doc, indent=2, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def header(graph: HeapGraph) -> str:
    snap = graph.snap
    return (
        f"{snap.path}: {snap.node_count:,} nodes, {snap.edge_count:,} edges, "
        f"total {format_bytes(int(graph.retained_size[snap.root]))} (sum of shallow sizes)\n"
    )


def summary_text(graph: HeapGraph, rows: list[TypeSummary]) -> str:
    lines = [header(graph), _row("class", "count", "shallow", "retained", "distance")]
    for r in rows:
        lines.append(
            _row(
                _cut(r.class_name, 60),
                f"{r.count:,}",
                format_bytes(r.shallow_bytes),
                format_bytes(r.retained_bytes),
                str(r.min_distance) if r.min_distance >= 0 else "-",
            )
        )
    lines.append(
        "\nshallow: the objects' own sizes (sys.getsizeof); retained: what would be freed with "
        "them; distance: fewest references from a root\n"
    )
    return "\n".join(lines)


def dominators_text(graph: HeapGraph, rows: list[Dominator]) -> str:
    lines = [header(graph), _row("object (held by)", "id", "self", "retained", "distance")]
    for d in rows:
        label = d.class_name if d.name == d.class_name else f"{d.class_name} {d.name!r}"
        lines.append(
            _row(
                _held(label, d.holder, 60),
                f"@{d.node_id}",
                format_bytes(d.self_bytes),
                format_bytes(d.retained_bytes),
                str(d.distance),
            )
        )
    return "\n".join(lines) + "\n"


def retainers_text(graph: HeapGraph, found: list[tuple[Dominator, list[RetainerPath]]]) -> str:
    lines = [header(graph)]
    if not found:
        lines.append("no such object in the snapshot")
    for d, paths in found:
        lines.append(
            f"{d.class_name} @{d.node_id}: self {format_bytes(d.self_bytes)}, retained "
            f"{format_bytes(d.retained_bytes)}, distance {d.distance}"
        )
        if not paths:
            lines.append("  (not reachable from a root without weak references)")
        for p in paths:
            lines.append(f"  {p.text}")
    return "\n".join(lines) + "\n"


def diff_text(rows: list[TypeDelta], top: int) -> str:
    lines = [_row("class", "# new", "# deleted", "# delta", "size delta")]
    for r in rows[:top]:
        lines.append(
            _row(
                _cut(r.class_name, 60),
                f"{r.new_count:,}",
                f"{r.deleted_count:,}",
                f"{r.delta_count:+,}",
                format_bytes(r.delta_bytes, signed=True),
            )
        )
    lines.append("\nobjects matched by node id; sizes are shallow sizes (sys.getsizeof)\n")
    return "\n".join(lines)


def leaks_text(groups: list[LeakGroup], top: int) -> str:
    if not groups:
        return "no object made between the first two snapshots is alive in the third\n"
    lines = [
        "objects made between snapshot 1 and 2 and still alive in 3:",
        _row("class", "count", "shallow", "retained", ""),
    ]
    for g in groups[:top]:
        lines.append(
            _row(
                _cut(g.class_name, 60),
                f"{g.count:,}",
                format_bytes(g.shallow_bytes),
                format_bytes(g.retained_bytes),
                "",
            )
        )
        for p in g.paths:
            lines.append(f"    {p.text}")
    return "\n".join(lines) + "\n"


def _row(a: str, b: str, c: str, d: str, e: str) -> str:
    return f"{a:<60} {b:>12} {c:>12} {d:>12} {e:>9}".rstrip()


def _held(label: str, holder: str, width: int) -> str:
    """``module app -> CACHE -> dict``: the object after what holds it, the holder shortened
    first when the line is too long (the object's class is what the row is about)."""
    label = _cut(label, width)
    room = width - len(label) - len(" -> ")
    if not holder or room < 12:
        return label
    holder = holder.replace("\n", "\\n")
    if len(holder) > room:
        holder = holder[: room - 3] + "..."
    return f"{holder} -> {label}"


def _cut(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."
