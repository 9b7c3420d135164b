"""What ``no_leaks`` costs and finds on a real test suite: toolz 1.2.0's, every test marked.

    python bench/no_leaks_suite.py                     # plain and no_leaks, 3 rounds: ~1 min
    python bench/no_leaks_suite.py --before-src /tmp/mh-main/src --before-rounds 1
                                                       # and an older commit's no_leaks: +10 min
    python bench/no_leaks_suite.py --memhound-src /tmp/mh/src   # measure an exported commit

toolz's source distribution is fetched with ``pip download --no-deps --no-binary :all:
toolz==1.2.0`` into ``--cache`` (default ``~/.cache/memhound-bench``) and unpacked there; its
tests run from that directory, with its own pytest settings (``filterwarnings = error``,
``--strict-markers``). Nothing of toolz is kept in this repository.

Modes, each a fresh ``python -m pytest -p no:cacheprovider toolz/tests`` in the unpacked sdist:

* ``plain``: as toolz's maintainers run it;
* ``no_leaks``: with a plugin (a file in a temporary directory, loaded with ``-p``) that adds
  ``pytest.mark.no_leaks`` with its defaults to every test function: what
  ``--memhound-no-leaks-all`` does, written so that it also runs on commits without the option;
* ``before``: the same, with ``--before-src`` first on the path (an older ``src``, exported
  with ``git archive``), when given.

Figures per mode: the wall time of the pytest process and pytest's own time (the sum of its
test cases' times in its JUnit XML: no interpreter start or collection), their ratio to
``plain`` of the same round, the tests flagged as leaking (failures whose message starts with
"memory leak"), other failures, and the iterations the checks measured (from the
``memhound_no_leaks_iterations`` property; only commits that report it). Medians over
``--rounds`` (``--before-rounds`` for ``before``: one round takes ~10 minutes). Stdlib only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLZ = "toolz==1.2.0"

_MARK_ALL = """
import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, pytest.Function):
            item.add_marker(pytest.mark.no_leaks)
"""


@dataclass(frozen=True)
class Outcome:
    wall_s: float
    pytest_s: float
    tests: int
    flagged: tuple[str, ...]
    other_failures: tuple[str, ...]
    iterations: int | None


def fetch_toolz(cache: Path) -> Path:
    """The unpacked sdist (fetched once into ``cache``)."""
    name = TOOLZ.replace("==", "-")
    tree = cache / name
    if (tree / "toolz" / "tests").is_dir():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
    subprocess.run([*pip, "-d", str(cache), TOOLZ], check=True)
    with tarfile.open(cache / f"{name}.tar.gz") as tar:
        tar.extractall(cache, filter="data")
    return tree


def run_suite(tree: Path, tmp: Path, mode: str, src: Path | None, label: str) -> Outcome:
    env = dict(os.environ)
    paths = [str(tmp)] + ([str(src)] if src is not None else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    xml = tmp / f"junit-{label}.xml"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    if mode != "plain":
        args += ["-p", "mark_all_no_leaks"]
    start = time.perf_counter()
    res = subprocess.run(
        [*args, "toolz/tests"], cwd=tree, env=env, capture_output=True, text=True, timeout=7200
    )
    wall = time.perf_counter() - start
    if res.returncode not in (0, 1) or not xml.exists():
        raise RuntimeError(f"{mode}: pytest exited {res.returncode}\n{res.stdout[-3000:]}")
    cases = list(ET.parse(xml).getroot().iter("testcase"))
    flagged, other, iterations = [], [], 0
    reported = False
    for case in cases:
        name = f"{case.get('classname')}::{case.get('name')}"
        for failure in case.iter("failure"):
            message = failure.get("message") or ""
            (flagged if "memory leak" in message else other).append(name)
        for prop in case.iter("property"):
            if prop.get("name") == "memhound_no_leaks_iterations":
                iterations += int(prop.get("value") or 0)
                reported = True
    return Outcome(
        wall_s=wall,
        pytest_s=sum(float(c.get("time", "0")) for c in cases),
        tests=len(cases),
        flagged=tuple(flagged),
        other_failures=tuple(other),
        iterations=iterations if reported else None,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="runs of plain and no_leaks (median)")
    p.add_argument("--memhound-src", type=Path, help="put DIR first on the path for no_leaks")
    p.add_argument("--before-src", type=Path, help="also measure no_leaks with this src")
    p.add_argument("--before-rounds", type=int, default=1, help="runs of before (median)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "memhound-bench")
    args = p.parse_args(argv)

    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {TOOLZ}")
    tree = fetch_toolz(args.cache)
    results: dict[str, list[tuple[Outcome, Outcome]]] = {}
    with tempfile.TemporaryDirectory(prefix="mh-no-leaks-suite-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "mark_all_no_leaks.py").write_text(_MARK_ALL)
        plan = [("no_leaks", args.memhound_src, args.rounds)]
        if args.before_src is not None:
            plan.append(("before", args.before_src, args.before_rounds))
        for mode, src, rounds in plan:
            for r in range(rounds):
                plain = run_suite(tree, tmp, "plain", args.memhound_src, f"plain-{mode}-{r}")
                checked = run_suite(tree, tmp, mode, src, f"{mode}-{r}")
                results.setdefault(mode, []).append((plain, checked))
                print(
                    f"  {mode} round {r + 1}: plain {plain.wall_s:.2f} s, {mode} "
                    f"{checked.wall_s:.2f} s, {len(checked.flagged)} flagged",
                    flush=True,
                )

    plains = [pl for pairs in results.values() for pl, _ in pairs]
    print("\n| mode | rounds | wall (median) | wall ratio | pytest's time | ratio | tests |"
          " flagged | other failures | iterations |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| plain | {len(plains)} | {statistics.median(o.wall_s for o in plains):.2f} s | 1.00x "
        f"| {statistics.median(o.pytest_s for o in plains):.2f} s | 1.00x "
        f"| {plains[0].tests} | - | {len(plains[0].other_failures)} | - |"
    )
    for mode, pairs in results.items():
        runs = [c for _, c in pairs]
        wall_ratio = statistics.median(c.wall_s / pl.wall_s for pl, c in pairs)
        own_ratio = statistics.median(c.pytest_s / max(pl.pytest_s, 1e-9) for pl, c in pairs)
        its = [c.iterations for c in runs if c.iterations is not None]
        print(
            f"| {mode} | {len(runs)} | {statistics.median(c.wall_s for c in runs):.2f} s "
            f"| {wall_ratio:.1f}x | {statistics.median(c.pytest_s for c in runs):.2f} s "
            f"| {own_ratio:.1f}x | {runs[0].tests} "
            f"| {statistics.median(len(c.flagged) for c in runs):g} "
            f"| {statistics.median(len(c.other_failures) for c in runs):g} "
            f"| {f'{statistics.median(its):,.0f}' if its else 'not reported'} |"
        )
    for mode, pairs in results.items():
        flagged = sorted({name for _, c in pairs for name in c.flagged})
        print(f"\n{mode}: flagged in any round ({len(flagged)}):")
        for name in flagged:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
