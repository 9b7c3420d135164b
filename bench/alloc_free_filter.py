"""What the sampled engine's free filter saves: the same loop of short-lived allocations beside
~5 million live objects, sampled at 512 KiB, with the engine built as shipped (a free asks a
64 KiB counting filter first) and built with -DMEMHOUND_NO_FILTER (every free probes the live
table of samples), and without the engine.

    python bench/alloc_free_filter.py [--rounds 5]

Builds both variants of src/memhound/_native/_alloc.c into a temp dir with the interpreter's
own CFLAGS (needs a C compiler), then runs each mode in a fresh process, alternating within a
round; prints the loop's CPU time (medians over rounds) and ratios to the run without the engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "memhound" / "_native" / "_alloc.c"

CHILD = r"""
import importlib.machinery, importlib.util, json, sys, time
so = sys.argv[1]
held = [(n, str(n)) for n in range(1000, 1_701_000)]  # 5.1 million live objects
native = None
if so != "-":
    loader = importlib.machinery.ExtensionFileLoader("memhound._native._alloc", so)
    spec = importlib.util.spec_from_file_location("memhound._native._alloc", so, loader=loader)
    native = importlib.util.module_from_spec(spec)
    loader.exec_module(native)
    block, _ = native.start(8, 512 * 1024, 1)
held2 = [(n, str(n)) for n in range(1000, 1_000_000)]  # allocated while sampling: samples live
t0 = time.process_time()
for r in range(40):
    batch = [{"id": n, "name": f"item-{n}", "tags": [n % 7, n % 11]} for n in range(20_000)]
    del batch
loop = time.process_time() - t0
live = native.state()["live"] if native else 0
if native:
    native.end(block)
    native.release(block)
print(json.dumps({"loop": loop, "live_samples": live}))
"""


def build(tmp: Path, name: str, extra: list[str]) -> str:
    out = tmp / name / "_alloc.so"
    out.parent.mkdir()
    cflags = (sysconfig.get_config_var("CFLAGS") or "").split()
    include = sysconfig.get_paths()["include"]
    cmd = ["cc", "-shared", "-fPIC", *cflags, *extra, f"-I{include}", str(SOURCE), "-o", str(out)]
    subprocess.run(cmd, check=True)
    return str(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        modes = {
            "no engine": "-",
            "sampled, filter": build(tmp, "filter", []),
            "sampled, no filter": build(tmp, "nofilter", ["-DMEMHOUND_NO_FILTER"]),
        }
        runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for r in range(args.rounds):
            for mode, so in modes.items():
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, so], capture_output=True, text=True, check=True
                )
                runs[mode].append(json.loads(out.stdout))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    base = runs["no engine"]
    print(f"{'mode':<20} {'loop s':>7} {'ratio':>6} {'live samples':>13}")
    for mode, got in runs.items():
        ratio = statistics.median(g["loop"] / b["loop"] for g, b in zip(got, base, strict=True))
        loop = statistics.median(g["loop"] for g in got)
        live = statistics.median(g["live_samples"] for g in got)
        print(f"{mode:<20} {loop:>7.3f} {ratio:>5.2f}x {live:>13.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
