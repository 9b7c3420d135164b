"""Independent agreement: memlab's own parser (npm @memlab/heap-analysis) reads the same files
and must find the same node count, total self size and retained sizes as memhound.

memlab is installed once into ~/.cache/memhound-tests/memlab (MEMHOUND_MEMLAB_DIR to choose)
with npm. Without node/npm these tests skip, unless MEMHOUND_REQUIRE_MEMLAB=1 (CI): then
they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memhound.heap import graph
from memhound.heap.v8format import load
from tests.conftest import ROOT
from tests.heap import walkers

MEMLAB_VERSION = "2.0.5"
PROBE = ROOT / "tests" / "heap" / "memlab_probe.js"
SCRIPT = ROOT / "tests" / "heap" / "make_snapshots.py"


def _unavailable(reason: str) -> None:
    if os.environ.get("MEMHOUND_REQUIRE_MEMLAB") == "1":
        pytest.fail(f"memlab is required (MEMHOUND_REQUIRE_MEMLAB=1) but {reason}")
    pytest.skip(f"memlab not available: {reason}")


@pytest.fixture(scope="session")
def memlab_modules() -> Path:
    default = Path.home() / ".cache" / "memhound-tests" / "memlab"
    where = Path(os.environ.get("MEMHOUND_MEMLAB_DIR", default))
    modules = where / "node_modules"
    # package.json is written last: a directory left by an interrupted install is not enough
    if (modules / "@memlab" / "heap-analysis" / "package.json").is_file():
        return modules
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        _unavailable("node and npm are not installed")
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "package.json").exists():
        (where / "package.json").write_text('{"name": "memhound-memlab", "private": true}\n')
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    # --ignore-scripts: memlab's puppeteer dependency would try to download a browser.
    # Three tries: the registry is the one thing here off this machine.
    for attempt in range(3):
        if attempt:
            time.sleep(10 * attempt)
        done = subprocess.run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund",
             f"@memlab/heap-analysis@{MEMLAB_VERSION}"],
            cwd=where, env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if done.returncode == 0:
            return modules
    _unavailable(f"npm install failed three times: {done.stderr[-2000:]}")
    return modules


def memlab(modules: Path, snapshot: Path, out: Path, ids: list[int]) -> dict[str, object]:
    env = {**os.environ, "NODE_PATH": str(modules)}
    node = shutil.which("node")
    assert node is not None
    subprocess.run(
        [node, str(PROBE), str(snapshot), str(out), *map(str, ids)],
        env=env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    result: dict[str, object] = json.loads(out.read_text())
    return result


@pytest.mark.parametrize("walker", walkers.WALKERS)
def test_memlab_agrees_on_a_memhound_snapshot(
    memlab_modules: Path, tmp_path: Path, walker: str
) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)],
        check=True, timeout=300, env=walkers.env(walker),
    )  # fmt: skip
    path = tmp_path / "main.heapsnapshot"
    g = graph.analyse(load(path))
    top = graph.top_dominators(g, 1)[0]  # the ORDERS list
    (payload,) = graph.nodes_of_class(g, "heapapp.models.Payload").tolist()
    ids = [top.node_id, int(g.snap.node_id[payload])]
    theirs = memlab(memlab_modules, path, tmp_path / "m.json", ids)
    assert theirs["node_count"] == g.snap.node_count
    assert theirs["total_self_size"] == int(g.snap.self_size.sum())
    assert theirs["root_retained"] == int(g.retained_size[0])
    assert theirs["retained"] == {
        str(ids[0]): top.retained_bytes,
        str(ids[1]): int(g.retained_size[payload]),
    }


def test_memlab_agrees_on_a_node_snapshot(memlab_modules: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    assert node is not None
    path = tmp_path / "node.heapsnapshot"
    code = (
        "globalThis.leak = [];"
        "for (let i = 0; i < 20000; i++) leak.push({id: i, name: 'n' + i});"
        f"require('v8').writeHeapSnapshot({json.dumps(str(path))})"
    )
    subprocess.run([node, "-e", code], check=True, timeout=120)
    g = graph.analyse(load(path))
    leak = next(d for d in graph.top_dominators(g, 10) if d.class_name == "Array")
    (p,) = graph.retainer_paths(g, leak.node)
    assert p.text.endswith("-> leak -> Array")
    assert leak.retained_bytes > 20_000 * 20
    ids = [d.node_id for d in graph.top_dominators(g, 5)]
    theirs = memlab(memlab_modules, path, tmp_path / "m.json", ids)
    assert theirs["node_count"] == g.snap.node_count
    assert theirs["total_self_size"] == int(g.snap.self_size.sum())
    assert theirs["root_retained"] == int(g.retained_size[0])
    ours = {str(d.node_id): d.retained_bytes for d in graph.top_dominators(g, 5)}
    assert theirs["retained"] == ours
