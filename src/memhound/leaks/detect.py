"""Leak or plateau: the policy applied to a series of retained memory against requests.

A series is called a leak when, after the warm-up, the Theil-Sen slope's whole 95% interval
is above ``min_bytes_per_request`` with a significant Mann-Kendall trend, **and** the second
half of the series still grows on its own: a cache that fills and stops, a lazy
initialisation or a gc sawtooth flattens out, a leak does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memhound.leaks.stats import trend


@dataclass(frozen=True)
class SeriesVerdict:
    leak: bool
    per_request: float
    ci95: tuple[float, float]
    p_value: float
    warmup_requests: int
    second_half_per_request: float
    points: int


def auto_warmup(requests: int) -> int:
    """Requests to discard before judging: a tenth of the run, at least 50."""
    return min(requests // 2, max(50, requests // 10))


def judge_series(
    x: Sequence[float],
    y: Sequence[float],
    *,
    warmup: int,
    min_per_request: float = 1.0,
) -> SeriesVerdict:
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if a > warmup]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    if len(xs) < 6:
        return SeriesVerdict(False, 0.0, (0.0, 0.0), 1.0, warmup, 0.0, len(xs))
    whole = trend(xs, ys)
    half = len(xs) // 2
    late = trend(xs[half:], ys[half:])
    leak = whole.growing(min_slope=min_per_request) and late.ci_low > 0 and late.slope > 0
    return SeriesVerdict(
        leak=leak,
        per_request=whole.slope,
        ci95=(whole.ci_low, whole.ci_high),
        p_value=whole.p_value,
        warmup_requests=warmup,
        second_half_per_request=late.slope,
        points=len(xs),
    )
