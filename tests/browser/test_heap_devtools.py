"""Chrome DevTools' own heap snapshot loader (the Memory panel's worker, from Debian's
Chromium) reads memhound's snapshots and agrees with memhound's analyser: node count, total
size, and the count, shallow size, retained size and distance of a known class."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memhound.heap import load

pytestmark = pytest.mark.browser

PROGRAM = """
import sys
import memhound

class Order:
    def __init__(self, i):
        self.id = i
        self.payload = bytes(100)

ORDERS = [Order(i) for i in range(20_000)]
memhound.snapshot(sys.argv[1])
"""

# Runs in the DevTools page: the worker module's loader and snapshot classes, the way the
# Memory panel uses them (a second "worker" on a MessageChannel finishes the initialisation).
LOAD = """async (text) => {
  const m = await import('./entrypoints/heap_snapshot_worker/heap_snapshot_worker.js');
  const loader = new m.HeapSnapshotLoader.HeapSnapshotLoader({sendEvent() {}});
  loader.write(text);
  loader.close();
  const channel = new MessageChannel();
  new m.HeapSnapshot.SecondaryInitManager(channel.port2);
  const s = await loader.buildSnapshot(channel.port1);
  const order = s.getAggregatesByClassKey(false, "allObjects")[",__main__.Order"];
  return {nodes: s.nodeCount, total: s.totalSize,
          order: {count: order.count, self: order.self, retained: order.maxRet,
                  distance: order.distance}};
}"""


@pytest.mark.parametrize("walker", ["native", "python"])
def test_devtools_reads_our_snapshot_and_agrees(browser: Any, tmp_path: Path, walker: str) -> None:
    path = tmp_path / "orders.heapsnapshot"
    env = {**os.environ, "MEMHOUND_NO_NATIVE": "1" if walker == "python" else "0"}
    subprocess.run([sys.executable, "-c", PROGRAM, str(path)], check=True, env=env, timeout=300)
    page = browser.new_page()
    page.goto("devtools://devtools/bundled/devtools_app.html")
    devtools = page.evaluate(LOAD, path.read_text(encoding="utf-8"))

    ours = load(path)
    summary = json.loads(
        subprocess.run(
            [sys.executable, "-m", "memhound", "heap", "summary", str(path), "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    (order,) = (c for c in summary["classes"] if c["class_name"] == "__main__.Order")
    assert devtools["nodes"] == ours.node_count
    assert devtools["total"] == int(ours.self_size.sum())
    assert devtools["order"] == {
        "count": 20_000,
        "self": order["shallow_bytes"],
        "retained": order["retained_bytes"],
        "distance": order["min_distance"],
    }
