"""The V8 ``.heapsnapshot`` format: its constants, and a reader into flat numpy arrays.

A snapshot file is one JSON object: ``snapshot.meta`` names the fields, ``nodes`` and ``edges``
are flat integer arrays (node *i* owns the next ``edge_count[i]`` edges; ``to_node`` is an
offset into ``nodes``), ``strings`` holds every name. The reader keeps that shape: it never
makes a Python object per node. It reads memhound's snapshots and Node's, plain or gzipped.
"""

from __future__ import annotations

import json
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memhound.errors import MemhoundError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: The synthetic root under which memhound's writer puts what memhound itself holds in the
#: observed process (its modules and frames, numpy imported for snapshots): never growth.
MEMHOUND_ROOT = "(memhound)"
NODE_FIELDS = ["type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness"]
NODE_TYPES = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
]
EDGE_FIELDS = ["type", "name_or_index", "to_node"]
EDGE_TYPES = ["context", "element", "property", "internal", "hidden", "shortcut", "weak"]
#: edge types whose ``name_or_index`` is a number, not an index into ``strings``
NUMBERED_EDGE_TYPES = frozenset({"element", "hidden"})

META: dict[str, Any] = {
    "node_fields": NODE_FIELDS,
    "node_types": [NODE_TYPES, "string", "number", "number", "number", "number", "number"],
    "edge_fields": EDGE_FIELDS,
    "edge_types": [EDGE_TYPES, "string_or_number", "node"],
    "trace_function_info_fields": [
        "function_id",
        "name",
        "script_name",
        "script_id",
        "line",
        "column",
    ],
    "trace_node_fields": ["id", "function_info_index", "count", "size", "children"],
    "sample_fields": ["timestamp_us", "last_assigned_id"],
    "location_fields": ["object_index", "script_id", "line", "column"],
}

_NUMERIC_ARRAYS = ("nodes", "edges", "locations", "samples", "trace_function_infos")
_HINT = "the file may be truncated or not a heap snapshot: take the snapshot again"


class SnapshotFormatError(MemhoundError):
    """A heap snapshot file is truncated, corrupt, or not a heap snapshot."""


@dataclass(frozen=True, eq=False)
class HeapSnapshot:
    """A heap snapshot as flat arrays, indexed by node ordinal (0 = root) and edge ordinal.

    - ``node_type``: index into ``node_types``; ``node_name``: index into ``strings``;
      ``node_id``: the object's id (stable across snapshots of one process);
      ``self_size``: shallow size in bytes; ``first_edge``: edges of node *i* are
      ``first_edge[i]:first_edge[i + 1]`` (length ``node_count + 1``).
    - ``edge_type``: index into ``edge_types``; ``edge_name``: a ``strings`` index, or the
      element/hidden number; ``edge_to``: the target's node ordinal.
    - ``node_trace``: the node's ``trace_node_id`` (0: unknown) when the file has allocation
      traces; ``trace_sites`` maps a trace node id to its allocation site, ``file:line``.
    """

    path: str
    node_types: tuple[str, ...]
    edge_types: tuple[str, ...]
    strings: tuple[str, ...]
    node_type: npt.NDArray[np.int8]
    node_name: npt.NDArray[np.int64]
    node_id: npt.NDArray[np.int64]
    self_size: npt.NDArray[np.int64]
    first_edge: npt.NDArray[np.int64]
    edge_type: npt.NDArray[np.int8]
    edge_name: npt.NDArray[np.int64]
    edge_to: npt.NDArray[np.int64]
    root: int = 0
    node_trace: npt.NDArray[np.int64] | None = None
    trace_sites: dict[int, str] = field(default_factory=dict)

    @property
    def node_count(self) -> int:
        return int(self.node_type.shape[0])

    @property
    def edge_count(self) -> int:
        return int(self.edge_type.shape[0])

    def name(self, node: int) -> str:
        return self.strings[int(self.node_name[node])]

    def type_name(self, node: int) -> str:
        return self.node_types[int(self.node_type[node])]

    def edge_label(self, edge: int) -> str:
        """The edge's name (or number, for element and hidden edges) as text."""
        kind = self.edge_types[int(self.edge_type[edge])]
        value = int(self.edge_name[edge])
        if kind in NUMBERED_EDGE_TYPES:
            return str(value)
        if 0 <= value < len(self.strings):
            return self.strings[value]
        return str(value)


#: a gzipped snapshot may expand to this many times its size (real ones: 5-7x), but always
#: to at least FLOOR_EXPANDED; ``max_expanded`` (``heap --max-size``) raises the cap
EXPANSION_RATIO = 40
FLOOR_EXPANDED = 256 * 1024 * 1024


def load(path: str | Path, *, max_expanded: int | None = None) -> HeapSnapshot:
    """Read a ``.heapsnapshot`` file (memhound's or Node's; gzip is detected) into arrays.

    Raises :class:`SnapshotFormatError` naming the field and byte offset when the file is
    truncated or corrupt, when it is not a regular file (a pipe or a device could be endless),
    and when a gzipped file expands past ``max_expanded`` bytes (by default
    ``EXPANSION_RATIO`` times its size, at least ``FLOOR_EXPANDED``): a few megabytes that
    expand to gigabytes are refused before they are held in memory.
    """
    p = Path(path)
    try:
        if not stat.S_ISREG(p.stat().st_mode):
            raise SnapshotFormatError(
                f"{str(p)!r} is not a regular file (a pipe, a device or a directory)",
                hint="save the snapshot to a file first, then pass that file",
            )
        raw = p.read_bytes()
    except OSError as exc:
        raise SnapshotFormatError(
            f"cannot read {str(p)!r}: {exc.strerror or exc}",
            hint="check the path and its permissions",
        ) from exc
    if raw[:2] == b"\x1f\x8b":
        cap = max_expanded or max(FLOOR_EXPANDED, EXPANSION_RATIO * len(raw))
        raw = _gunzip(raw, cap, str(p))
    return _parse(raw, str(p))


def _gunzip(data: bytes, cap: int, where: str) -> bytes:
    """Decompress every gzip member of ``data``, in pieces, stopping at ``cap`` bytes."""
    out = bytearray()
    rest = data
    try:
        while rest:
            inflate = zlib.decompressobj(wbits=31)
            chunk = rest
            while chunk and not inflate.eof:
                out += inflate.decompress(chunk, 1 << 20)
                if len(out) > cap:
                    raise SnapshotFormatError(
                        f"{where!r}: {len(data):,} bytes of gzip expand to more than "
                        f"{cap:,} bytes; refused so as not to run out of memory",
                        hint="if the snapshot is really that big, raise the cap with "
                        f"--max-size (e.g. --max-size {_next_size(cap)}), or gunzip it first",
                    )
                chunk = inflate.unconsumed_tail
            if not inflate.eof:
                raise EOFError("the stream ends before its end-of-stream marker")
            rest = inflate.unused_data.lstrip(b"\0")  # gzip pads members with zeros sometimes
    except (zlib.error, EOFError) as exc:
        raise SnapshotFormatError(
            f"{where!r}: the gzip stream is damaged ({exc})", hint=_HINT
        ) from exc
    return bytes(out)


def _next_size(cap: int) -> str:
    gib = 1024**3
    return f"{-(-cap * 4 // gib)}GiB"


def _parse(raw: bytes, where: str) -> HeapSnapshot:
    import numpy as np

    sections = _top_level(raw, where)
    for key in ("snapshot", "nodes", "edges", "strings"):
        if key not in sections:
            raise SnapshotFormatError(
                f"{where!r}: no {key!r} field in the file (read {len(raw)} bytes)", hint=_HINT
            )
    head = sections["snapshot"]
    try:
        meta = head["meta"]
        node_fields = list(meta["node_fields"])
        node_types = tuple(str(t) for t in meta["node_types"][0])
        edge_fields = list(meta["edge_fields"])
        edge_types = tuple(str(t) for t in meta["edge_types"][0])
        node_count = int(head["node_count"])
        edge_count = int(head["edge_count"])
        root_index = int(head.get("root_index", 0))
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise SnapshotFormatError(
            f"{where!r}: the 'snapshot.meta' header is incomplete ({exc!r})", hint=_HINT
        ) from exc
    if node_count <= 0 or edge_count < 0:
        raise SnapshotFormatError(
            f"{where!r}: the header counts {node_count} nodes and {edge_count} edges; a "
            "snapshot has at least its root node",
            hint=_HINT,
        )
    if not node_types or not edge_types:
        raise SnapshotFormatError(
            f"{where!r}: 'snapshot.meta' names no node types or no edge types", hint=_HINT
        )
    for need in ("type", "name", "id", "self_size", "edge_count"):
        if need not in node_fields:
            raise SnapshotFormatError(f"{where!r}: node_fields lacks {need!r}", hint=_HINT)
    for need in ("type", "name_or_index", "to_node"):
        if need not in edge_fields:
            raise SnapshotFormatError(f"{where!r}: edge_fields lacks {need!r}", hint=_HINT)
    nf, ef = len(node_fields), len(edge_fields)
    nodes = sections["nodes"]
    edges = sections["edges"]
    strings = sections["strings"]
    if not isinstance(strings, list) or not set(map(type, strings)) <= {str}:
        raise SnapshotFormatError(f"{where!r}: 'strings' is not a list of strings", hint=_HINT)
    if nodes.shape[0] != node_count * nf:
        raise SnapshotFormatError(
            f"{where!r}: 'nodes' holds {nodes.shape[0]} numbers, the header promises "
            f"{node_count} nodes x {nf} fields = {node_count * nf}",
            hint=_HINT,
        )
    if edges.shape[0] != edge_count * ef:
        raise SnapshotFormatError(
            f"{where!r}: 'edges' holds {edges.shape[0]} numbers, the header promises "
            f"{edge_count} edges x {ef} fields = {edge_count * ef}",
            hint=_HINT,
        )
    n2 = nodes.reshape(node_count, nf)
    e2 = edges.reshape(edge_count, ef) if edge_count else edges.reshape(0, ef)
    counts = n2[:, node_fields.index("edge_count")]
    _in_range(n2[:, node_fields.index("type")], len(node_types), "node", "type", where, np)
    _in_range(e2[:, edge_fields.index("type")], len(edge_types), "edge", "type", where, np)
    _in_range(n2[:, node_fields.index("self_size")], None, "node", "self_size", where, np)
    _in_range(counts, None, "node", "edge_count", where, np)
    first_edge = np.zeros(node_count + 1, dtype=np.int64)
    np.cumsum(counts, out=first_edge[1:])
    if node_count and int(first_edge[-1]) != edge_count:
        raise SnapshotFormatError(
            f"{where!r}: the nodes' edge_count fields add up to {int(first_edge[-1])}, "
            f"but there are {edge_count} edges",
            hint=_HINT,
        )
    to_offsets = e2[:, edge_fields.index("to_node")]
    if edge_count and (
        int(to_offsets.min()) < 0
        or int(to_offsets.max()) >= node_count * nf
        or bool((to_offsets % nf).any())
    ):
        bad = int(
            np.flatnonzero(
                (to_offsets < 0) | (to_offsets >= node_count * nf) | (to_offsets % nf != 0)
            )[0]
        )
        raise SnapshotFormatError(
            f"{where!r}: edge {bad} ('edges' value {bad * ef + edge_fields.index('to_node')}) "
            f"points to node offset {int(to_offsets[bad])}, not a node",
            hint=_HINT,
        )
    node_type = n2[:, node_fields.index("type")].astype(np.int8)
    node_name = n2[:, node_fields.index("name")].copy()
    if node_count and (int(node_name.max()) >= len(strings) or int(node_name.min()) < 0):
        raise SnapshotFormatError(
            f"{where!r}: a node name points past the {len(strings)} strings", hint=_HINT
        )
    # as in Chrome DevTools, root_index is the root's offset in 'nodes' (0 when absent)
    if not 0 <= root_index < node_count * nf or root_index % nf:
        raise SnapshotFormatError(
            f"{where!r}: root_index {root_index} is not the start of a node (a multiple of "
            f"{nf} below {node_count * nf})",
            hint=_HINT,
        )
    root = root_index // nf
    node_trace = None
    if "trace_node_id" in node_fields:
        node_trace = n2[:, node_fields.index("trace_node_id")].copy()
    return HeapSnapshot(
        path=where,
        node_types=node_types,
        edge_types=edge_types,
        strings=tuple(strings),
        node_type=node_type,
        node_name=node_name,
        node_id=n2[:, node_fields.index("id")].copy(),
        self_size=n2[:, node_fields.index("self_size")].copy(),
        first_edge=first_edge,
        edge_type=e2[:, edge_fields.index("type")].astype(np.int8),
        edge_name=e2[:, edge_fields.index("name_or_index")].copy(),
        edge_to=to_offsets // nf,
        root=root,
        node_trace=node_trace,
        trace_sites=_trace_sites(sections, meta, strings, where),
    )


def _in_range(values: Any, stop: int | None, what: str, name: str, where: str, np: Any) -> None:
    """Every value is >= 0 (and < ``stop`` when given), or the error names the first that
    is not."""
    bad = values < 0 if stop is None else (values < 0) | (values >= stop)
    if values.shape[0] and bool(bad.any()):
        i = int(np.flatnonzero(bad)[0])
        allowed = "not negative" if stop is None else f"from 0 to {stop - 1}"
        raise SnapshotFormatError(
            f"{where!r}: {what} {i} has {name} {int(values[i])}; it must be {allowed}",
            hint=_HINT,
        )


def _trace_sites(
    sections: dict[str, Any], meta: dict[str, Any], strings: list[str], where: str
) -> dict[int, str]:
    """Trace node id -> ``file:line`` (or ``function file:line``) of its innermost frame."""
    infos = sections.get("trace_function_infos")
    tree = sections.get("trace_tree")
    if infos is None or tree is None or not len(infos) or not tree:
        return {}
    try:
        f_fields = list(meta["trace_function_info_fields"])
        t_fields = list(meta["trace_node_fields"])
        fw, tw = len(f_fields), len(t_fields)
        name_at, script_at = f_fields.index("name"), f_fields.index("script_name")
        line_at, id_at = f_fields.index("line"), t_fields.index("id")
        fi_at, kids_at = t_fields.index("function_info_index"), t_fields.index("children")
        labels = []
        for k in range(0, len(infos) - fw + 1, fw):
            name = strings[int(infos[k + name_at])]
            script = strings[int(infos[k + script_at])]
            line = int(infos[k + line_at])
            site = f"{script}:{line}" if script else name
            labels.append(site if not name or name.endswith(f":{line}") else f"{name} {site}")
        sites: dict[int, str] = {}
        stack = [tree]
        while stack:
            flat = stack.pop()
            for k in range(0, len(flat) - tw + 1, tw):
                fi = int(flat[k + fi_at])
                if fi > 0:  # 0 is the tree's root
                    sites[int(flat[k + id_at])] = labels[fi]
                stack.append(flat[k + kids_at])
        return sites
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise SnapshotFormatError(
            f"{where!r}: the allocation trace tables are damaged ({exc!r})", hint=_HINT
        ) from exc


def _top_level(raw: bytes, where: str) -> dict[str, Any]:
    """Split the top-level JSON object into its fields; numeric arrays go straight to numpy."""
    import numpy as np

    decoder = json.JSONDecoder()
    pos = _skip_ws(raw, 0)
    if raw[pos : pos + 1] != b"{":
        raise SnapshotFormatError(
            f"{where!r}: byte {pos}: expected '{{', the start of a heap snapshot", hint=_HINT
        )
    pos += 1
    out: dict[str, Any] = {}
    while True:
        pos = _skip_ws(raw, pos)
        if raw[pos : pos + 1] == b"}":
            return out
        if pos >= len(raw):
            raise SnapshotFormatError(
                f"{where!r}: the file ends at byte {len(raw)} inside the top-level object "
                f"(after field {next(reversed(out), None)!r})",
                hint=_HINT,
            )
        end = raw.find(b'"', pos + 1)
        if raw[pos : pos + 1] != b'"' or end < 0:
            raise SnapshotFormatError(f"{where!r}: byte {pos}: expected a field name", hint=_HINT)
        key = raw[pos + 1 : end].decode("utf-8", "replace")
        pos = _skip_ws(raw, end + 1)
        if raw[pos : pos + 1] != b":":
            raise SnapshotFormatError(
                f"{where!r}: byte {pos}: expected ':' after field {key!r}", hint=_HINT
            )
        pos = _skip_ws(raw, pos + 1)
        if key in _NUMERIC_ARRAYS:
            if raw[pos : pos + 1] != b"[":
                raise SnapshotFormatError(
                    f"{where!r}: byte {pos}: field {key!r} is not an array", hint=_HINT
                )
            close = raw.find(b"]", pos)
            if close < 0:
                raise SnapshotFormatError(
                    f"{where!r}: field {key!r} starting at byte {pos} is cut off: the file "
                    f"ends at byte {len(raw)}",
                    hint=_HINT,
                )
            out[key] = _numbers_in(raw, pos + 1, close, key, where, np)
            pos = close + 1
        else:
            text = raw[pos:].decode("utf-8", "surrogatepass") if key == "strings" else None
            try:
                if text is not None:
                    value, used = decoder.raw_decode(text)
                    pos += len(text[:used].encode("utf-8", "surrogatepass"))
                else:
                    value, pos = _decode_value(decoder, raw, pos)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise SnapshotFormatError(
                    f"{where!r}: field {key!r} starting at byte {pos} is not valid JSON ({exc})",
                    hint=_HINT,
                ) from exc
            out[key] = value
        pos = _skip_ws(raw, pos)
        sep = raw[pos : pos + 1]
        if sep == b",":
            pos += 1
        elif sep == b"}":
            return out
        else:
            raise SnapshotFormatError(
                f"{where!r}: byte {pos}: expected ',' or '}}' after field {key!r}"
                + (" (the file ends here)" if pos >= len(raw) else ""),
                hint=_HINT,
            )


def _decode_value(decoder: json.JSONDecoder, raw: bytes, pos: int) -> tuple[Any, int]:
    """Decode one small JSON value at ``pos`` without decoding the rest of the file."""
    window = 1 << 16
    while True:
        chunk = raw[pos : pos + window]
        try:
            text = chunk.decode("utf-8")
            value, used = decoder.raw_decode(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if pos + window >= len(raw):
                text = raw[pos:].decode("utf-8")
                value, used = decoder.raw_decode(text)
                return value, pos + len(text[:used].encode("utf-8"))
            window *= 4
            continue
        return value, pos + len(text[:used].encode("utf-8"))


def _numbers_in(raw: bytes, start: int, stop: int, key: str, where: str, np: Any) -> Any:
    """The integers of ``raw[start:stop]``: parsed in place by the native extension where
    it is built (no copy of the text), else by numpy; a bad token is named either way."""
    native = native_heapwalk()
    if native is not None and stop - start > 4096:
        arr = np.empty(raw.count(b",", start, stop) + 1, dtype=np.int64)
        if native.parse_ints(raw, start, stop, arr) == arr.shape[0]:
            return arr
    return _numbers(raw[start:stop], key, start, where, np)


def native_heapwalk() -> Any:
    """``memhound._native._heapwalk`` when built and not turned off (MEMHOUND_NO_NATIVE=1)."""
    from memhound._native import load

    native = load("_heapwalk")
    wanted = ("parse_ints", "bfs", "dominators", "dominator_tree")
    return native if native is not None and all(hasattr(native, f) for f in wanted) else None


def _numbers(body: bytes, key: str, offset: int, where: str, np: Any) -> Any:
    stripped = body.strip()
    if not stripped:
        return np.zeros(0, dtype=np.int64)
    count = stripped.count(b",") + 1
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # numbers only, so the ',' separator parse is exact; a bad token stops it early
            arr = np.fromstring(stripped.decode("ascii", "replace"), dtype=np.int64, sep=",")
    except ValueError:
        arr = np.zeros(0, dtype=np.int64)
    # numpy clamps a number past int64 to its bounds: such a value is checked token by token
    limits = np.iinfo(np.int64)
    clamped = arr.shape[0] == count and bool(((arr == limits.max) | (arr == limits.min)).any())
    bad = _first_bad_number(stripped) if arr.shape[0] != count or clamped else (-1, 0, "")
    if bad[0] >= 0 or arr.shape[0] != count:
        raise SnapshotFormatError(
            f"{where!r}: field {key!r}: value {bad[0]} at byte {offset + bad[1]} is not an "
            f"integer ({bad[2]!r})",
            hint=_HINT,
        )
    return arr


def _first_bad_number(body: bytes) -> tuple[int, int, str]:
    pos = 0
    for i, token in enumerate(body.split(b",")):
        t = token.strip()
        digits = t[1:] if t[:1] == b"-" else t
        if not digits.isdigit() or not -(2**63) <= int(t) < 2**63:
            return i, pos, t[:40].decode("ascii", "replace")
        pos += len(token) + 1
    return -1, len(body), ""


def _skip_ws(raw: bytes, pos: int) -> int:
    n = len(raw)
    while pos < n and raw[pos] in b" \t\r\n":
        pos += 1
    return pos
