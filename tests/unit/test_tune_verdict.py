"""Judging tuning runs, on hand-built results."""

from __future__ import annotations

from memhound.analysis.tune import describe_stat, judge
from memhound.model.tune import Stat, TuneResult, TuneRun

MiB = 1024 * 1024


def runs(
    config: str,
    peaks: list[float],
    finals: list[float],
    walls: list[float],
    iterations: int = 0,
    error: str | None = None,
) -> list[TuneRun]:
    return [
        TuneRun(
            config,
            i + 1,
            w,
            int(p * MiB),
            int(f * MiB),
            0 if error is None else 1,
            iterations,
            f"/runs/{config}-{i + 1}",
            error,
        )
        for i, (p, f, w) in enumerate(zip(peaks, finals, walls, strict=True))
    ]


BASE = runs("baseline", [300, 302, 301], [290, 292, 291], [1.0, 1.05, 1.02])


def result(*extra: list[TuneRun], **kw: object) -> TuneResult:
    allruns = BASE + [r for group in extra for r in group]
    return judge(("python", "job.py"), allruns, {}, repeat=3, **kw)  # type: ignore[arg-type]


def by_name(res: TuneResult) -> dict[str, object]:
    return {c.config: c for c in res.configs}


def test_a_clear_winner_is_named_with_its_gain_and_cost() -> None:
    trim = runs("malloc-trim", [303, 304, 303], [25, 26, 25], [1.2, 1.25, 1.22])
    res = result(trim)
    c = by_name(res)["malloc-trim"]
    assert c.better == ("final RSS",)  # type: ignore[attr-defined]
    assert c.worse == ("wall time",)  # type: ignore[attr-defined]
    assert res.verdict.startswith("Beat the baseline beyond the noise: malloc-trim: final RSS -9")
    assert "but worse: wall time +" in res.verdict


def test_overlapping_ranges_are_not_a_win() -> None:
    # Median 4% lower but one run as high as the baseline's best: not beyond the noise.
    near = runs("arena-max-2", [280, 301, 285], [290, 291, 292], [1.0, 1.0, 1.0])
    res = result(near)
    assert by_name(res)["arena-max-2"].better == ()  # type: ignore[attr-defined]
    assert res.verdict.startswith("No configuration beat the baseline")


def test_small_consistent_change_is_below_the_minimum_effect() -> None:
    tiny = runs("pymalloc-off", [297, 298, 297], [288, 289, 288], [1.0, 1.0, 1.0])
    res = result(tiny)
    assert by_name(res)["pymalloc-off"].better == ()  # type: ignore[attr-defined]
    res2 = result(tiny, min_effect=0.001)
    assert by_name(res2)["pymalloc-off"].better == ("peak RSS", "final RSS")  # type: ignore[attr-defined]


def test_failed_skipped_and_not_applied_configs() -> None:
    bad = runs("jemalloc", [0, 0, 0], [0, 0, 0], [1, 1, 1], error="exited with code 3")
    frz = runs("gc-freeze", [200, 200, 200], [190, 190, 190], [1, 1, 1], iterations=0)
    res = result(
        bad, frz, skipped={"mmap-threshold-64k": "not here"}, per_iteration=frozenset({"gc-freeze"})
    )
    c = by_name(res)
    assert c["jemalloc"].failed == 3 and "exited with code 3" in c["jemalloc"].note  # type: ignore[attr-defined]
    assert c["gc-freeze"].better == ()  # type: ignore[attr-defined]
    assert "never called memhound.iteration()" in c["gc-freeze"].note  # type: ignore[attr-defined]
    assert c["mmap-threshold-64k"].runs == 0  # type: ignore[attr-defined]
    assert c["mmap-threshold-64k"].note == "skipped: not here"  # type: ignore[attr-defined]


def test_failed_baseline() -> None:
    res = judge(("x",), runs("baseline", [1], [1], [1], error="boom"), {}, repeat=1)
    assert "baseline did not run successfully" in res.verdict


def test_round_trip_and_stat_text() -> None:
    res = result(runs("malloc-trim", [303, 304, 303], [25, 26, 25], [1.2, 1.25, 1.22]))
    assert TuneResult.from_dict(res.to_dict()) == res
    assert describe_stat(Stat(300 * MiB, 299 * MiB, 302 * MiB)) == "300.0 MiB (299.0-302.0)"
    assert describe_stat(Stat(1.5, 1.25, 1.75), seconds=True) == "1.50 s (1.25-1.75)"
