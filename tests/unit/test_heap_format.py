"""Reading .heapsnapshot files: every field found by name, damage reported with its place."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from memhound.errors import MemhoundError
from memhound.heap.v8format import SnapshotFormatError, load
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
