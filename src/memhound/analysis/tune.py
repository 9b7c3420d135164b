"""Judging configurations against the baseline: ``(runs) -> TuneResult``.

A configuration beats the baseline on a metric (peak RSS, final RSS, wall time) when its
median is lower by more than both the measured noise and ``min_effect``, and every one of its
runs is better than every baseline run (the ranges do not overlap). With 3 runs each, ranges
that do not overlap happen by chance for identical settings 1 time in 20; the noise threshold
keeps that from turning into a claim when ten configurations are compared: it is the typical
relative spread of a configuration's own runs (the median over all configurations, the
baseline's included), so a metric as noisy as the wall time of a short job needs a large,
clean difference to count.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from memhound.model.tune import ConfigResult, Stat, TuneResult, TuneRun
from memhound.units import format_bytes

METRICS = {"peak RSS": "peak_rss_bytes", "final RSS": "final_rss_bytes", "wall time": "wall_s"}
BASELINE = "baseline"


def _values(runs: Sequence[TuneRun], attr: str) -> list[float]:
    out = []
    for r in runs:
        v = getattr(r, attr)
        if v is not None and r.error is None:
            out.append(float(v))
    return out


def _stat(values: list[float]) -> Stat | None:
    if not values:
        return None
    return Stat(statistics.median(values), min(values), max(values))


def _noise(values: list[float]) -> float:
    """Relative spread of a configuration's runs: (max - min) / median."""
    if len(values) < 2:
        return 0.0
    med = statistics.median(values)
    return (max(values) - min(values)) / med if med else 0.0


def judge(
    command: tuple[str, ...],
    runs: Sequence[TuneRun],
    descriptions: dict[str, str],
    *,
    repeat: int,
    min_effect: float = 0.05,
    skipped: dict[str, str] | None = None,
    per_iteration: frozenset[str] = frozenset(),
) -> TuneResult:
    """Compare every configuration's runs with the baseline's. ``skipped`` maps configs that
    could not run to the reason; ``per_iteration`` names configs that act only where the
    program calls ``memhound.iteration()`` (judged "not applied" when it never did)."""
    by_config: dict[str, list[TuneRun]] = {}
    for r in runs:
        by_config.setdefault(r.config, []).append(r)
    base = by_config.get(BASELINE, [])
    noise = {
        name: statistics.median(
            [_noise(_values(group, attr)) for group in by_config.values()] or [0.0]
        )
        for name, attr in METRICS.items()
    }
    results = []
    for config, cruns in by_config.items():
        good = [r for r in cruns if r.error is None]
        better: list[str] = []
        worse: list[str] = []
        ratios: dict[str, float | None] = {}
        for name, attr in METRICS.items():
            mine, theirs = _values(good, attr), _values(base, attr)
            if not mine or not theirs or config == BASELINE:
                ratios[name] = 1.0 if config == BASELINE and mine else None
                continue
            ratio = statistics.median(mine) / statistics.median(theirs)
            ratios[name] = ratio
            threshold = max(noise[name], min_effect)
            if ratio < 1 - threshold and max(mine) < min(theirs):
                better.append(name)
            elif ratio > 1 + threshold and min(mine) > max(theirs):
                worse.append(name)
        note = None
        failed = len(cruns) - len(good)
        if failed:
            first = next(r.error for r in cruns if r.error)
            note = f"{failed} of {len(cruns)} runs failed: {first}"
        elif config in per_iteration and not any(r.iterations for r in good):
            note = "not applied: the program never called memhound.iteration()"
            better, worse = [], []
        results.append(
            ConfigResult(
                config=config,
                description=descriptions.get(config, ""),
                runs=len(cruns),
                failed=failed,
                peak_rss=_stat(_values(good, "peak_rss_bytes")),
                final_rss=_stat(_values(good, "final_rss_bytes")),
                wall=_stat(_values(good, "wall_s")),
                peak_ratio=ratios.get("peak RSS"),
                final_ratio=ratios.get("final RSS"),
                wall_ratio=ratios.get("wall time"),
                better=tuple(better),
                worse=tuple(worse),
                note=note,
            )
        )
    for config, reason in (skipped or {}).items():
        results.append(
            ConfigResult(
                config,
                descriptions.get(config, ""),
                0,
                0,
                None,
                None,
                None,
                None,
                None,
                None,
                (),
                (),
                note=f"skipped: {reason}",
            )
        )
    return TuneResult(
        command=command,
        repeat=repeat,
        min_effect=min_effect,
        noise=noise,
        configs=tuple(results),
        runs=tuple(runs),
        verdict=_verdict(results, noise, min_effect),
    )


def _verdict(results: list[ConfigResult], noise: dict[str, float], min_effect: float) -> str:
    winners = [c for c in results if c.better]
    if not any(c.config == BASELINE and c.failed < c.runs for c in results):
        return "The baseline did not run successfully, so nothing could be compared."
    if not winners:
        spread = ", ".join(f"{k} ±{v / 2:.0%}" for k, v in noise.items())
        return (
            "No configuration beat the baseline by more than the measured noise "
            f"({spread}; at least {min_effect:.0%} needed). Keep the defaults."
        )

    def changes(c: ConfigResult, names: tuple[str, ...]) -> str:
        ratios = {"peak RSS": c.peak_ratio, "final RSS": c.final_ratio, "wall time": c.wall_ratio}
        return ", ".join(
            f"{name} {ratio - 1:+.0%}" if (ratio := ratios[name]) is not None else name
            for name in names
        )

    parts = []
    for c in sorted(winners, key=lambda c: (c.final_ratio or 1) * (c.peak_ratio or 1)):
        cost = f" (but worse: {changes(c, c.worse)})" if c.worse else ""
        parts.append(f"{c.config}: {changes(c, c.better)}{cost}")
    return "Beat the baseline beyond the noise: " + "; ".join(parts) + "."


def describe_stat(stat: Stat | None, *, seconds: bool = False) -> str:
    """``'305.0 MiB (304.1-306.2)'``: the median, then the range in the median's unit."""
    if stat is None:
        return "n/a"
    if seconds:
        return f"{stat.median:.2f} s ({stat.low:.2f}-{stat.high:.2f})"
    text = format_bytes(stat.median)
    number = text.partition(" ")[0]
    scale = stat.median / float(number) if float(number) else 1.0
    return f"{text} ({stat.low / scale:.1f}-{stat.high / scale:.1f})"
