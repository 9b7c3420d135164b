"""What a heap snapshot costs, and what analysing it costs, next to the floors and to memlab.

    python bench/heap_snapshot.py                          # 1M and 5M live objects (~4 GB peak)
    python bench/heap_snapshot.py --objects 200000         # quicker
    python bench/heap_snapshot.py --objects 1000000 --no-python --no-guppy
    python bench/heap_snapshot.py --memlab DIR             # memlab from DIR/node_modules

Each mode runs in a fresh interpreter holding the same heap (N/4 objects of a class, each with
a str, a list and an int: about N gc-visible objects in all). "extra" is the peak RSS during
the mode minus the RSS just before it (the kernel's VmHWM, reset through /proc/self/clear_refs).

Modes, for each size: ``floor`` (gc.get_objects() + gc.get_referents() of every object: the
walk alone), ``native`` (memhound.heap.snapshot() to a file with the C walker), ``python``
(the same with MEMHOUND_NO_NATIVE=1), ``guppy`` (guppy3's hpy().heap(), when guppy3 is
installed: ``pip install guppy3``; memhound does not depend on it); then, on the largest
size's native snapshot, ``analyse`` (load + dominators + summary in memhound) and ``memlab``
(memlab's getFullHeapFromFile on the same file: parse, dominators, retained sizes), with its
peak RSS from the child's rusage.
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
if mode == "guppy":
    from guppy import hpy
    h = hpy()
elif mode in ("native", "python"):  # imports (numpy) are not the snapshot's memory
    from memhound.heap import snapshot
    import memhound.heap.writer as writer
    writer._native_module()
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
elif mode in ("native", "python"):
    info = snapshot(path)
    out = {"nodes": info.node_count, "edges": info.edge_count, "walk_s": info.walk_s,
           "write_s": info.write_s, "file_bytes": __import__("os").path.getsize(path)}
elif mode == "guppy":
    heap = h.heap()
    out = {"objects": heap.count, "size": heap.size}
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
    env = {**os.environ, "MEMHOUND_NO_NATIVE": "1" if mode == "python" else "0"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(n), str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    result["objects_asked"] = n
    return result


def has_guppy() -> bool:
    done = subprocess.run([sys.executable, "-c", "import guppy"], capture_output=True, check=False)
    return done.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--objects", type=int, nargs="+", default=[1_000_000, 5_000_000], help="heap sizes"
    )
    ap.add_argument("--no-python", action="store_true", help="skip the pure-Python walker")
    ap.add_argument("--no-guppy", action="store_true", help="skip guppy3")
    ap.add_argument(
        "--memlab", metavar="DIR", default=str(Path.home() / ".cache/memhound-tests/memlab")
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.heapsnapshot"
        modes = ["floor", "native"]
        modes += [] if args.no_python else ["python"]
        modes += [] if args.no_guppy or not has_guppy() else ["guppy"]
        rows = []
        for n in args.objects:
            for mode in modes:
                rows.append(child(mode, n, path if mode != "python" else path.with_suffix(".py")))
                print(json.dumps(rows[-1]), flush=True)
        rows.append(child("analyse", args.objects[-1], path))
        print(json.dumps(rows[-1]), flush=True)
        node = shutil.which("node")
        modules = Path(args.memlab) / "node_modules"
        if node and (modules / "@memlab").is_dir():
            res = Path(tmp) / "memlab.json"
            t = time.perf_counter()
            proc = subprocess.Popen(
                [node, "--max-old-space-size=16000", "-e", MEMLAB, str(path), str(res)],
                env={**os.environ, "NODE_PATH": str(modules)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t
            if status == 0 and res.exists():
                row = json.loads(res.read_text())
            else:
                row = {"failed": status, "stderr": proc.stderr.read().decode()[-500:]}  # type: ignore[union-attr]
            row.update(mode="memlab", wall_s=wall, peak_rss_bytes=usage.ru_maxrss * 1024)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
