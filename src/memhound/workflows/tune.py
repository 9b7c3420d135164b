"""``memhound tune``: allocator and gc settings measured side by side on the user's command.

Every configuration runs the command ``repeat`` times under ``memhound run`` (rounds
interleave the configurations, so drift of the machine falls on all of them alike). Peak RSS
is the kernel's exact high-water mark (wait4); final RSS is what the process held when its
atexit handlers ran (the agent reports it), or the last sample for a non-Python command.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from memhound._fsutil import atomic_write
from memhound.agent import contract
from memhound.analysis.tune import BASELINE, judge
from memhound.errors import UsageError
from memhound.model.run import Run, open_run
from memhound.model.timeline import Timeline
from memhound.model.tune import TUNE_FILE, TuneResult, TuneRun
from memhound.workflows._recording import RunOptions
from memhound.workflows.run import resolve_command, run_command

JEMALLOC_GLOBS = (
    "/usr/lib/*-linux-gnu/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
    "/usr/local/lib/libjemalloc.so.2",
)


@dataclass(frozen=True)
class TuneConfig:
    name: str
    description: str
    env: tuple[tuple[str, str], ...] = ()
    per_iteration: bool = False
    trims: bool = False  # calls malloc_trim (its runs say how often)
    unavailable: str | None = None


def find_jemalloc() -> str | None:
    for pattern in JEMALLOC_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def catalogue(collect_every: int = 10) -> dict[str, TuneConfig]:
    """Every configuration memhound knows, by name, in the order they are reported."""
    jemalloc = find_jemalloc()
    configs = [
        TuneConfig(BASELINE, "the command as it is"),
        TuneConfig(
            "arena-max-2",
            "glibc: at most 2 malloc arenas (MALLOC_ARENA_MAX=2)",
            (("MALLOC_ARENA_MAX", "2"),),
        ),
        TuneConfig(
            "trim-threshold-128k",
            "glibc: return free heap top above 128 KiB (MALLOC_TRIM_THRESHOLD_=131072)",
            (("MALLOC_TRIM_THRESHOLD_", "131072"),),
        ),
        TuneConfig(
            "mmap-threshold-64k",
            "glibc: allocations of 64 KiB and more get their own mmap, freed to the OS "
            "at once (MALLOC_MMAP_THRESHOLD_=65536)",
            (("MALLOC_MMAP_THRESHOLD_", "65536"),),
        ),
        TuneConfig(
            "jemalloc",
            "jemalloc instead of glibc malloc (LD_PRELOAD)",
            (("LD_PRELOAD", jemalloc or ""),),
            unavailable=None
            if jemalloc
            else "libjemalloc.so.2 not found (Debian: apt-get install libjemalloc2)",
        ),
        TuneConfig(
            "pymalloc-off",
            "Python objects from malloc, not pymalloc (PYTHONMALLOC=malloc)",
            (("PYTHONMALLOC", "malloc"),),
        ),
        TuneConfig(
            "gc-relaxed",
            "fewer collections: gc.set_threshold(50000, 50, 100)",
            ((contract.ENV_GC_THRESHOLD, "50000,50,100"),),
        ),
        TuneConfig(
            "gc-freeze",
            "gc.freeze() at the first memhound.iteration(): start-up objects leave gc",
            ((contract.ENV_GC_FREEZE, "1"),),
            per_iteration=True,
        ),
        TuneConfig(
            f"gc-collect-{collect_every}",
            f"gc.collect() every {collect_every} memhound.iteration() calls",
            ((contract.ENV_GC_COLLECT_EVERY, str(collect_every)),),
            per_iteration=True,
        ),
        TuneConfig(
            "malloc-trim",
            "malloc_trim(0) after every full collection, at memhound.iteration() (at most "
            "once a second) and at exit",
            ((contract.ENV_MALLOC_TRIM, "1"),),
            trims=True,
        ),
    ]
    return {c.name: c for c in configs}


def parse_configs(spec: str | None) -> list[TuneConfig]:
    """``"arena-max-2,jemalloc,gc-collect-1"``; the baseline always comes first."""
    if not spec:
        return list(catalogue().values())
    chosen: list[TuneConfig] = []
    known = catalogue()
    for raw in spec.split(","):
        name = raw.strip()
        if not name:
            continue
        if name.startswith("gc-collect-") and name not in known:
            n = name.removeprefix("gc-collect-")
            if not n.isdigit() or int(n) < 1:
                raise UsageError(f"not a configuration: {name!r}", hint="e.g. gc-collect-1")
            config = catalogue(int(n))[name]
        elif name in known:
            config = known[name]
        else:
            raise UsageError(
                f"unknown configuration {name!r}",
                hint="choose from " + ", ".join(known) + " (gc-collect-N for any N)",
            )
        if config not in chosen:
            chosen.append(config)
    base = known[BASELINE]
    return [base, *[c for c in chosen if c.name != BASELINE]]


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    config: str
    round: int
    last: TuneRun | None


def run_tune(
    argv: list[str],
    configs: list[TuneConfig],
    *,
    repeat: int = 3,
    interval_s: float = 0.05,
    output_dir: Path | None = None,
    runs_dir: Path = Path("memhound-runs"),
    min_effect: float = 0.05,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[TuneResult, Run]:
    if repeat < 1:
        raise UsageError("--repeat must be 1 or more")
    resolve_command(argv)  # fail early on a command that cannot start
    started = time.time()
    writer = open_run(
        "tune",
        tuple(argv),
        started,
        output_dir=output_dir,
        runs_dir=runs_dir,
        slug=("tune", *argv),
        interval_s=interval_s,
        agent=True,
    )
    meta = writer.meta
    runnable = [c for c in configs if c.unavailable is None]
    skipped = {c.name: c.unavailable for c in configs if c.unavailable is not None}
    total = len(runnable) * repeat
    runs: list[TuneRun] = []
    interrupted = False
    for rnd in range(repeat):
        order = runnable[rnd % len(runnable) :] + runnable[: rnd % len(runnable)]
        for config in order:
            if on_progress:
                on_progress(Progress(len(runs), total, config.name, rnd + 1, None))
            one = _run_one(argv, config, rnd + 1, writer.path / "runs", interval_s)
            runs.append(one)
            if on_progress:
                on_progress(Progress(len(runs), total, config.name, rnd + 1, one))
            if one.error == "interrupted":
                interrupted = True
                break
        if interrupted:
            break
    result = judge(
        tuple(argv),
        runs,
        {c.name: c.description for c in configs},
        repeat=repeat,
        min_effect=min_effect,
        skipped={k: v for k, v in skipped.items() if v},
        per_iteration=frozenset(c.name for c in configs if c.per_iteration),
        trimming=frozenset(c.name for c in configs if c.trims),
    )
    atomic_write(writer.path / TUNE_FILE, json.dumps(result.to_dict(), indent=1) + "\n")
    done = replace(
        meta,
        status="interrupted" if interrupted else "complete",
        duration_s=time.time() - started,
    )
    writer.finish(done, None)
    return result, Run(path=writer.path, meta=done, timeline=Timeline())


def _run_one(
    argv: list[str], config: TuneConfig, rnd: int, runs_root: Path, interval_s: float
) -> TuneRun:
    run_dir = runs_root / f"{config.name}-{rnd}"
    options = RunOptions(
        interval_s=interval_s,
        agent=True,
        output_dir=run_dir,
        extra_env=config.env,
        capture_output=True,
    )
    run = run_command(argv, options)
    ex = run.meta.exit
    target = run.meta.target_pid
    final = None
    iterations = trims = 0
    for bye in run.timeline.agent_exits:
        if bye.pid == target:
            final = bye.rss_bytes if bye.rss_bytes >= 0 else None
            iterations = bye.iterations
            trims = bye.trims
    if final is None and run.timeline.samples:
        final = run.timeline.samples[-1].total_rss_bytes
    error = None
    if ex is not None and ex.interrupted:
        error = "interrupted"
    elif ex is None or ex.returncode != 0:
        error = (ex.describe() if ex else "no exit status") + f" (output: {run_dir}/output.log)"
    return TuneRun(
        config=config.name,
        round=rnd,
        wall_s=run.meta.duration_s or 0.0,
        peak_rss_bytes=ex.max_rss_bytes if ex else None,
        final_rss_bytes=final,
        returncode=ex.returncode if ex else None,
        iterations=iterations,
        trims=trims,
        run_dir=str(run_dir),
        error=error,
    )
