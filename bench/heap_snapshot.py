"""What a heap snapshot costs, and what analysing it costs, next to the floors and to memlab.

    python bench/heap_snapshot.py                      # ~1M live objects (default)
    python bench/heap_snapshot.py --objects 200000     # quicker
    python bench/heap_snapshot.py --memlab DIR         # also time memlab (DIR/node_modules)

Each mode runs in a fresh interpreter holding the same heap (N/4 objects of a class, each with
a str, a list and an int: about N gc-visible objects in all). "extra" is the peak RSS during
the mode minus the RSS just before it (the kernel's VmHWM, reset through /proc/self/clear_refs).

Modes: ``floor`` (gc.get_objects() + gc.get_referents() of every object: the walk alone),
``snapshot`` (memhound.heap.snapshot() to a file), then ``analyse`` (load + dominators +
summary of that file in memhound) and ``memlab`` (memlab's getFullHeapFromFile on it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import gc, json, sys, time

def rss():
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            yield int(line.split()[1]) * 1024

class Order:
    def __init__(self, i):
        self.name = "order-%d" % i
        self.lines = [i]
        self.total = i * 1000003

mode, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode != "analyse":
    HEAP = [Order(i) for i in range(n // 4)]
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before, _ = rss()
t = time.perf_counter()
if mode == "floor":
    objs = gc.get_objects()
    edges = 0
    for o in objs:
        edges += len(gc.get_referents(o))
    out = {"objects": len(objs), "referents": edges}
elif mode == "snapshot":
    from memhound.heap import snapshot
    info = snapshot(path)
    out = {"nodes": info.node_count, "edges": info.edge_count, "walk_s": info.walk_s,
           "write_s": info.write_s, "file_bytes": __import__("os").path.getsize(path)}
else:
    from memhound.heap import analyse, load, summary
    g = analyse(load(path))
    rows = summary(g, top=5)
    out = {"top_class": rows[0].class_name}
elapsed = time.perf_counter() - t
_, peak = rss()
out.update(mode=mode, seconds=elapsed, rss_before=before, extra_bytes=peak - before)
print(json.dumps(out))
"""

MEMLAB = r"""
const { getFullHeapFromFile } = require("@memlab/heap-analysis");
const t = process.hrtime.bigint();
getFullHeapFromFile(process.argv[1]).then((heap) => {
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  require("fs").writeFileSync(process.argv[2], JSON.stringify({ seconds: s,
    root_retained: heap.nodes.get(0).retainedSize }));
});
"""


def child(mode: str, n: int, path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(n), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument(
        "--memlab", metavar="DIR", default=str(Path.home() / ".cache/memhound-tests/memlab")
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.heapsnapshot"
        rows = [child("floor", args.objects, path), child("snapshot", args.objects, path)]
        rows.append(child("analyse", args.objects, path))
        node = shutil.which("node")
        modules = Path(args.memlab) / "node_modules"
        if node and (modules / "@memlab").is_dir():
            res = Path(tmp) / "memlab.json"
            t = time.perf_counter()
            subprocess.run(
                [node, "-e", MEMLAB, str(path), str(res)],
                env={**os.environ, "NODE_PATH": str(modules)},
                check=True,
                capture_output=True,
            )
            row = json.loads(res.read_text())
            row.update(mode="memlab", wall_s=time.perf_counter() - t)
            rows.append(row)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
