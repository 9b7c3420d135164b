"""Reading .heapsnapshot files: every field found by name, damage reported with its place."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memhound.errors import MemhoundError
from memhound.heap.v8format import META, SnapshotFormatError, load
from tests.heap.handmade import DIAMOND_EDGES, DIAMOND_NODES, snapshot_json


def test_reads_fields_by_name(tmp_path: Path) -> None:
    snap = load(_file(tmp_path, snapshot_json(DIAMOND_NODES, DIAMOND_EDGES)))
    assert snap.node_count == len(DIAMOND_NODES) and snap.edge_count == len(DIAMOND_EDGES)
    assert snap.name(4) == "app.Order" and snap.type_name(6) == "string"
    assert snap.node_id.tolist() == [n[2] for n in DIAMOND_NODES]
    assert snap.first_edge.tolist()[:3] == [0, 1, 3]


def test_older_six_field_nodes_and_other_field_orders(tmp_path: Path) -> None:
    doc = json.loads(snapshot_json(DIAMOND_NODES, DIAMOND_EDGES))
    meta = doc["snapshot"]["meta"]
    meta["node_fields"] = meta["node_fields"][:6]  # no detachedness, as older V8 wrote
    doc["nodes"] = [v for i, v in enumerate(doc["nodes"]) if i % 7 != 6]
    for row in range(len(DIAMOND_NODES)):  # id before name: found by name, not by place
        k = row * 6
        doc["nodes"][k + 1], doc["nodes"][k + 2] = doc["nodes"][k + 2], doc["nodes"][k + 1]
    meta["node_fields"][1], meta["node_fields"][2] = "id", "name"
    doc["edges"] = [v if i % 3 != 2 else v // 7 * 6 for i, v in enumerate(doc["edges"])]
    snap = load(_file(tmp_path, json.dumps(doc, indent=1)))
    assert snap.name(4) == "app.Order" and int(snap.node_id[4]) == 7
    assert int(snap.edge_to[0]) == 1


def test_gzip_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "x.heapsnapshot"
    path.write_bytes(gzip.compress(snapshot_json(DIAMOND_NODES, DIAMOND_EDGES).encode()))
    assert load(path).node_count == len(DIAMOND_NODES)


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.3, 0.5, 0.8, 0.95, 0.999])
def test_truncated_files_give_a_clear_error(tmp_path: Path, fraction: float) -> None:
    text = snapshot_json(DIAMOND_NODES, DIAMOND_EDGES)
    cut = text[: int(len(text) * fraction)]
    with pytest.raises(SnapshotFormatError) as info:
        load(_file(tmp_path, cut))
    message = str(info.value)
    assert "x.heapsnapshot" in message and "hint:" in message
    assert any(word in message for word in ("byte", "field", "header", "'nodes'", "'edges'"))
    assert isinstance(info.value, MemhoundError)


def test_a_bad_number_names_its_field_and_offset(tmp_path: Path) -> None:
    text = snapshot_json(DIAMOND_NODES, DIAMOND_EDGES)
    start = text.index('"edges": [') + len('"edges": [')
    broken = text[:start] + "1,x7" + text[start + 1 :]
    with pytest.raises(SnapshotFormatError, match=r"field 'edges': value 1 at byte \d+"):
        load(_file(tmp_path, broken))


def test_inconsistent_counts_and_targets(tmp_path: Path) -> None:
    doc = json.loads(snapshot_json(DIAMOND_NODES, DIAMOND_EDGES))
    doc["snapshot"]["node_count"] += 1
    with pytest.raises(SnapshotFormatError, match="header promises"):
        load(_file(tmp_path, json.dumps(doc)))
    doc = json.loads(snapshot_json(DIAMOND_NODES, DIAMOND_EDGES))
    doc["edges"][2] = 10_000 * 7
    with pytest.raises(SnapshotFormatError, match="points to node offset 70000"):
        load(_file(tmp_path, json.dumps(doc)))
    doc = json.loads(snapshot_json(DIAMOND_NODES, DIAMOND_EDGES))
    doc["nodes"][4] += 1
    with pytest.raises(SnapshotFormatError, match="edge_count fields add up"):
        load(_file(tmp_path, json.dumps(doc)))


def test_not_a_snapshot_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SnapshotFormatError, match="expected '\\{'"):
        load(_file(tmp_path, "hello"))
    with pytest.raises(SnapshotFormatError, match="no 'nodes' field"):
        load(_file(tmp_path, '{"snapshot": {}, "strings": []}'))
    with pytest.raises(SnapshotFormatError, match="cannot read"):
        load(tmp_path / "missing.heapsnapshot")
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"{}")[:-6])
    with pytest.raises(SnapshotFormatError, match="gzip"):
        load(path)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.heapsnapshot"
    path.write_text(text)
    return path


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(snapshot_json(DIAMOND_NODES, DIAMOND_EDGES))
    return doc


def _node_type(doc: dict[str, Any]) -> None:
    doc["nodes"][7 * 4] = 99


def _edge_type(doc: dict[str, Any]) -> None:
    doc["edges"][3 * 2] = 42


def _negative_size(doc: dict[str, Any]) -> None:
    doc["nodes"][7 * 3 + 3] = -(10**15)


def _no_node_types(doc: dict[str, Any]) -> None:
    doc["snapshot"]["meta"] = {**META, "node_types": [[], *META["node_types"][1:]]}


def _no_nodes(doc: dict[str, Any]) -> None:
    doc["snapshot"]["node_count"] = doc["snapshot"]["edge_count"] = 0
    doc["nodes"], doc["edges"] = [], []


def _root_off_a_node(doc: dict[str, Any]) -> None:
    doc["snapshot"]["root_index"] = 3


def _root_past_the_end(doc: dict[str, Any]) -> None:
    doc["snapshot"]["root_index"] = 7 * len(DIAMOND_NODES)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_node_type, "node 4 has type 99; it must be from 0 to 14"),
        (_edge_type, "edge 2 has type 42; it must be from 0 to 6"),
        (_negative_size, "node 3 has self_size -1000000000000000; it must be not negative"),
        (_no_node_types, "names no node types"),
        (_no_nodes, "counts 0 nodes"),
        (_root_off_a_node, "root_index 3 is not the start of a node"),
        (_root_past_the_end, f"root_index {7 * len(DIAMOND_NODES)} is not the start"),
    ],
)
def test_values_out_of_range_are_refused_with_their_place(
    tmp_path: Path, damage: Callable[[dict[str, Any]], None], said: str
) -> None:
    # each used to end in an IndexError from the analysis, a dropped object, a total of
    # -909.5 TiB or an empty summary
    doc = _doc()
    damage(doc)
    with pytest.raises(SnapshotFormatError, match=re.escape(said)):
        load(_file(tmp_path, json.dumps(doc)))


def test_root_index_is_an_offset_into_nodes_as_devtools_reads_it(tmp_path: Path) -> None:
    doc = _doc()
    doc["snapshot"]["root_index"] = 7  # node 1, "(modules)"
    snap = load(_file(tmp_path, json.dumps(doc)))
    assert snap.root == 1 and snap.name(snap.root) == "(modules)"


def test_a_gzip_bomb_is_refused_before_it_is_held(tmp_path: Path) -> None:
    # 300 MiB of spaces after a valid snapshot: a 300 KiB file that expands 1000-fold
    body = snapshot_json(DIAMOND_NODES, DIAMOND_EDGES).encode()
    path = tmp_path / "bomb.heapsnapshot.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(body)
        for _ in range(300):
            f.write(b" " * (1 << 20))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(SnapshotFormatError, match="expand to more than 268,435,456 bytes"):
        load(path)
    assert load(path, max_expanded=400 << 20).node_count == len(DIAMOND_NODES)


def test_concatenated_gzip_members_are_read(tmp_path: Path) -> None:
    body = snapshot_json(DIAMOND_NODES, DIAMOND_EDGES).encode()
    path = tmp_path / "two.heapsnapshot.gz"
    path.write_bytes(gzip.compress(body[:100]) + gzip.compress(body[100:]))
    assert load(path).node_count == len(DIAMOND_NODES)


def test_a_device_or_a_pipe_is_refused_not_read_forever(tmp_path: Path) -> None:
    with pytest.raises(SnapshotFormatError, match="not a regular file"):
        load("/dev/zero")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SnapshotFormatError, match="not a regular file"):
        load(fifo)
