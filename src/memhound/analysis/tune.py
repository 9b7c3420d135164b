"""Judging configurations against the baseline: ``(runs) -> TuneResult``.

A configuration beats the baseline on a metric (peak RSS, final RSS, wall time) when both hold:

- **Size**: its median is lower by more than ``min_effect`` and by more than ``Z`` standard
  errors of the difference of the two medians. The run-to-run spread behind that standard error
  is pooled over every configuration's runs (their mean absolute deviation from their own
  median, scaled to a standard deviation), so ten configurations of three runs give it twenty
  degrees of freedom where one configuration alone would give two.
- **Order**: its runs rank below the baseline's in a one-sided Mann-Whitney test at 5% (with 3
  runs each: every run better than every baseline run). With fewer runs no arrangement reaches
  5%, and every run must still be better than every baseline run.

Why both: ranges that do not overlap happen by chance for identical settings 1 time in 20 with
3 runs each, and the rule before this one (beat the median spread of a configuration's runs)
claimed a false wall-time win on a 45 ms job in about 1 tune in 15 (simulated, and seen once in
CI: "trim-threshold-128k: wall time -22%"). With ``Z = 3`` the simulated rate for six identical
configurations is at most 0.6%, under steady noise and under bursts of slow runs alike.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from functools import cache

from memhound.model.tune import ConfigResult, Stat, TuneResult, TuneRun
from memhound.units import format_bytes

METRICS = {"peak RSS": "peak_rss_bytes", "final RSS": "final_rss_bytes", "wall time": "wall_s"}
BASELINE = "baseline"
Z = 3.0
ALPHA = 0.05
_MAD_TO_SD = math.sqrt(math.pi / 2)  # E|x - mean| = sd * sqrt(2/pi) for a normal spread
# Variance of the median of n normal draws, in units of the draws' variance (n <= 7 exact
# figures; pi / 2n beyond).
_MEDIAN_VAR = {1: 1.0, 2: 0.5, 3: 0.449, 4: 0.343, 5: 0.287, 6: 0.231, 7: 0.210}


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


def _spread(groups: Sequence[list[float]]) -> float:
    """Relative run-to-run spread (one standard deviation, as a fraction of the median),
    pooled over all groups of two or more runs; 0 when there are none."""
    total, dof = 0.0, 0
    for values in groups:
        med = statistics.median(values) if values else 0.0
        if len(values) < 2 or med <= 0:
            continue
        total += sum(abs(v / med - 1) for v in values)
        dof += len(values) - 1
    return total / dof * _MAD_TO_SD if dof else 0.0


def _median_var(n: int) -> float:
    return _MEDIAN_VAR.get(n, math.pi / (2 * n))


def needed_change(spread: float, n_mine: int, n_base: int, min_effect: float) -> float:
    """Smallest relative change of the median that counts with these many runs each."""
    se = spread * math.sqrt(_median_var(n_mine) + _median_var(n_base))
    return max(min_effect, Z * se)


@cache
def _u_counts(n: int, m: int) -> tuple[int, ...]:
    """How many of the C(n+m, n) orderings of two samples give each Mann-Whitney U (0..n*m)."""
    if n == 0 or m == 0:
        return (1,)
    out = [0] * (n * m + 1)
    # The largest value belongs to the first sample (it then ranks above all m of the second)
    # or to the second.
    for u, c in enumerate(_u_counts(n - 1, m)):
        out[u + m] += c
    for u, c in enumerate(_u_counts(n, m - 1)):
        out[u] += c
    return tuple(out)


def rank_p(lower: list[float], higher: list[float]) -> float:
    """One-sided Mann-Whitney p-value that ``lower`` tends to be below ``higher`` (exact null
    distribution; ties count half)."""
    u = sum((x < y) + 0.5 * (x == y) for x in lower for y in higher)
    counts = _u_counts(len(lower), len(higher))
    # U counts pairs with lower's value below: large U means lower really is lower.
    tail = sum(c for k, c in enumerate(counts) if k >= u)
    return tail / sum(counts)


def _ordered(lower: list[float], higher: list[float]) -> bool:
    if rank_p(lower, higher) <= ALPHA:
        return True
    smallest_p = 1 / math.comb(len(lower) + len(higher), len(lower))
    return smallest_p > ALPHA and max(lower) < min(higher)


def judge(
    command: tuple[str, ...],
    runs: Sequence[TuneRun],
    descriptions: dict[str, str],
    *,
    repeat: int,
    min_effect: float = 0.05,
    skipped: dict[str, str] | None = None,
    per_iteration: frozenset[str] = frozenset(),
    trimming: frozenset[str] = frozenset(),
) -> TuneResult:
    """Compare every configuration's runs with the baseline's. ``skipped`` maps configs that
    could not run to the reason; ``per_iteration`` names configs that act only where the
    program calls ``memhound.iteration()`` (judged "not applied" when it never did);
    ``trimming`` those that call ``malloc_trim``, whose note says how often it ran."""
    by_config: dict[str, list[TuneRun]] = {}
    for r in runs:
        by_config.setdefault(r.config, []).append(r)
    base = by_config.get(BASELINE, [])
    noise = {
        name: _spread([_values(group, attr) for group in by_config.values()])
        for name, attr in METRICS.items()
    }
    n_base = len([r for r in base if r.error is None])
    needed = {
        name: needed_change(noise[name], repeat, max(n_base, 1), min_effect) for name in METRICS
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
            if len(mine) < 2 or len(theirs) < 2:
                continue  # one run each: shown, never claimed
            threshold = needed_change(noise[name], len(mine), len(theirs), min_effect)
            if ratio < 1 - threshold and _ordered(mine, theirs):
                better.append(name)
            elif ratio > 1 + threshold and _ordered(theirs, mine):
                worse.append(name)
        note = None
        failed = len(cruns) - len(good)
        if failed:
            first = next(r.error for r in cruns if r.error)
            note = f"{failed} of {len(cruns)} runs failed: {first}"
        elif config in per_iteration and not any(r.iterations for r in good):
            note = "not applied: the program never called memhound.iteration()"
            better, worse = [], []
        elif config in trimming and good:
            trims = statistics.median(r.trims for r in good)
            if trims:
                note = (
                    f"malloc_trim(0) ran {trims:g} time{'s' if trims != 1 else ''} a run (median)"
                )
            else:
                note = "not applied: malloc_trim(0) never ran (the agent found no glibc)"
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
        needed=needed,
        configs=tuple(results),
        runs=tuple(runs),
        verdict=_verdict(results, needed, repeat),
    )


def describe_needed(needed: dict[str, float]) -> str:
    """``'peak RSS 5%, final RSS 5%, wall time 32%'``: the change each metric needed."""
    return ", ".join(f"{k} {v:.0%}" for k, v in needed.items())


def _verdict(results: list[ConfigResult], needed: dict[str, float], repeat: int) -> str:
    winners = [c for c in results if c.better]
    if not any(c.config == BASELINE and c.failed < c.runs for c in results):
        return "The baseline did not run successfully, so nothing could be compared."
    if repeat < 2:
        return (
            "One run per configuration: the differences are shown, but one run cannot tell a "
            "setting from noise. Use --repeat 3 or more for a verdict."
        )
    if not winners:
        text = (
            "No configuration beat the baseline beyond the noise "
            f"(a change had to exceed {describe_needed(needed)} with {repeat} runs each). "
            "Keep the defaults."
        )
        if needed["wall time"] >= 0.15:
            text += (
                " Wall time varies too much between runs of this job to see a smaller "
                "change: more runs (--repeat 5) or a longer job narrow it."
            )
        return text

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
