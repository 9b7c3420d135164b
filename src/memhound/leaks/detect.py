"""Leak or plateau: the policy applied to a series of retained memory against requests.

A series is called a leak when, after the warm-up, the Theil-Sen slope's whole 95% interval
is above ``min_bytes_per_request`` with a significant Mann-Kendall trend, **and** the second
half of the series still grows on its own: a cache that fills and stops, a lazy
initialisation or a gc sawtooth flattens out, a leak does not.

A soak whose load failed, or that gathered too little to judge, gets no verdict at all
(``why_inconclusive``): "no leak" there would be a claim the data cannot back.

A test body run repeatedly (the pytest plugin's ``no_leaks``) stops as soon as its retained
heap is clearly flat (``plateaued``: no rise for a while, and for longer than it rose), so a
clean test costs a handful of calls; one that still grows runs to its cap and is then judged
by the same two rules as a soak (``judge_iterations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memhound.leaks.stats import trend

#: Samples after the warm-up that a verdict needs. Below 6 points, even a perfectly monotone
#: series cannot reach the Mann-Kendall significance ``Trend.growing`` asks for (p < 0.01:
#: 5 points give p = 0.03 at best), so "no leak" would be certain whatever the app did.
MIN_POINTS = 6
#: Failed requests (no answer, or one outside 2xx/3xx) tolerated before a soak is
#: inconclusive: a failing app does not do the work whose memory is being judged.
DEFAULT_MAX_ERRORS = 0.05


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
    if len(xs) < MIN_POINTS:
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


# -- a test body run repeatedly (the pytest plugin's no_leaks) ---------------------------------

#: Measured iterations that a no_leaks check runs at least before a plateau may end it: the
#: retained heap must then have set no new high for this many iterations in a row.
MIN_ITERATIONS = MIN_POINTS - 1


def last_rise(
    series: Sequence[float], *, window: int = MIN_ITERATIONS, allowance: float = 0.0
) -> int:
    """Index of the last reading of ``series`` above each of the ``window`` readings before
    it (0 when none was), growth of ``allowance`` per step aside. Noise around a level (an
    object that comes and goes every other call) stops rising once the window has seen its
    range; a filling cache stops rising when full; a leak keeps rising."""
    last = 0
    for i in range(1, len(series)):
        level = series[i] - allowance * i
        if all(level > series[j] - allowance * j for j in range(max(0, i - window), i)):
            last = i
    return last


def plateaued(
    series: Sequence[float], *, min_iterations: int = MIN_ITERATIONS, allowance: float = 0.0
) -> bool:
    """Whether a check can stop on ``series`` (the retained heap before the first measured
    iteration, then after each). Three conditions: at least ``min_iterations`` iterations
    without a rise (``last_rise`` over that window); at least as many as came before the last
    rise, which tells "grew at first, then flat" (a cache that filled) from a leak that shows
    only every k-th call, whose rises keep coming; and the last reading the lowest of the
    window, so that a climb under an early high (a warm-up's temporary freed in the first
    iteration, then a leak) is not taken for flat."""
    iterations = len(series) - 1
    if iterations < min_iterations:
        return False
    rise = last_rise(series, window=min_iterations, allowance=allowance)
    if iterations - rise < max(min_iterations, rise):
        return False
    last = series[-1] - allowance * iterations
    return all(
        last <= series[j] - allowance * j for j in range(iterations - min_iterations, iterations)
    )


@dataclass(frozen=True)
class IterationVerdict:
    """The verdict on a no_leaks series that did not end on a plateau. ``steady``: the
    second half grows at least half as fast as the first (a leak's constant rate), as opposed
    to growth that slows down (a cache still filling when the iterations ran out)."""

    leak: bool
    per_iteration: float
    ci95: tuple[float, float]
    p_value: float
    first_half_per_iteration: float
    second_half_per_iteration: float
    steady: bool
    iterations: int


def judge_iterations(
    series: Sequence[float], *, min_per_iteration: float = 0.0
) -> IterationVerdict:
    """Leak or not, for a series that ran to its cap without a plateau: the whole series
    grows beyond doubt (``Trend.growing`` above ``min_per_iteration``) **and** its second half
    still does (its 95% interval above the allowance). Growth confined to the first half is
    a cache or a lazy initialisation that has finished."""
    xs = [float(i) for i in range(len(series))]
    ys = [float(v) for v in series]
    whole = trend(xs, ys)
    half = len(xs) // 2
    early = trend(xs[: half + 1], ys[: half + 1])
    late = trend(xs[half:], ys[half:])
    leak = (
        len(xs) >= MIN_POINTS
        and whole.growing(min_slope=min_per_iteration)
        and late.ci_low > min_per_iteration
        and late.slope > min_per_iteration
    )
    return IterationVerdict(
        leak=leak,
        per_iteration=whole.slope,
        ci95=(whole.ci_low, whole.ci_high),
        p_value=whole.p_value,
        first_half_per_iteration=early.slope,
        second_half_per_iteration=late.slope,
        steady=late.slope >= early.slope / 2,
        iterations=len(xs) - 1,
    )


def why_inconclusive(
    *,
    requests: int,
    errors: int,
    points: int,
    warmup: int,
    max_errors: float = DEFAULT_MAX_ERRORS,
    stopped: str | None = None,
    common_failure: str | None = None,
) -> str | None:
    """Why a soak of ``requests`` (``errors`` of them failed) with ``points`` samples after
    ``warmup`` cannot be judged, as a sentence; None when it can.

    ``max_errors`` is the fraction of failed requests tolerated; ``stopped`` says why the
    load ended early, ``common_failure`` what most failures were (``HTTP 500 on /x``). A
    soak that stopped before it had enough samples says so first: that is what to fix."""
    too_few = (
        f"only {points} sample{'s' if points != 1 else ''} after the {warmup:,} warm-up "
        f"requests, and the trend test needs at least {MIN_POINTS}"
    )
    if points < MIN_POINTS and stopped:
        return f"the soak stopped early ({stopped}): {too_few}"
    if requests > 0 and errors > max_errors * requests:
        why = (
            f"{errors:,} of {requests:,} requests failed ({_percent(errors / requests)}), more "
            f"than the {_percent(max_errors)} allowed (--max-errors)"
        )
        if common_failure:
            why += f"; most often {common_failure}"
        return why + ": fix what fails, then soak again"
    if points < MIN_POINTS:
        return too_few + ": run more requests (-n) or a shorter --warmup"
    return None


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"  # 0.05 -> 5%, 0.005 -> 0.5%, 1/3 -> 33.3%


# -- resources that reach a limit (issue 21) ----------------------------------------------

#: A count must have risen at least this much from its level before the load to be called
#: saturated or grown in the warm-up: a pool that fills to its size (a few connections, a
#: worker thread per core) stays below it.
MIN_RISE = 16


@dataclass(frozen=True)
class Pinned:
    """Where a count reached the level it then kept: the sample ``index``, that ``level``,
    and its growth per request before (Theil-Sen over the samples up to there)."""

    index: int
    level: int
    per_request_before: float


def near(level: float, limit: int) -> bool:
    """At or near ``limit``: within 3% of it, or 4, whichever is more (the watcher's own
    descriptors, a thread that comes and goes)."""
    return level >= limit - max(4.0, 0.03 * limit)


def find_saturation(
    x: Sequence[float],
    y: Sequence[float],
    *,
    limit: int | None,
    failed: Sequence[int] | None = None,
) -> Pinned | None:
    """A count ``y`` (against requests ``x``, its first point the level before the load)
    that grew and then stayed pinned at its top, at or near ``limit``.

    The top is the highest sample; it is reached at the first sample within 1% of it, and
    the count is pinned from there to the end (no sample more than 2%, or 2, below the top;
    at least two samples). It must have risen by ``MIN_RISE`` or more from the first point
    (half the limit, at least 2, when that is less). With ``limit`` known the top must be
    near it (``near``); without, the requests after it must mostly fail (``failed``: failed
    requests so far, at each sample): a count that stops growing while everything works is
    a pool that filled, not a limit."""
    n = len(y)
    if n < 3 or len(x) != n:
        return None
    top = max(y)
    # reached: the first sample within 1% of the top (a limit of 17 connections is reached
    # at 17, not 15); stayed: no sample after it more than 2% (or 2) below the top
    k = next(i for i, v in enumerate(y) if v >= top - 0.01 * top)
    tol = max(2.0, 0.02 * top)
    if k > n - 2 or any(v < top - tol for v in y[k:]):
        return None
    # a small limit (a pool of 5) is reached by a small rise: half of it will do
    if top - y[0] < (MIN_RISE if limit is None else min(MIN_RISE, max(2, limit // 2))):
        return None
    if limit is not None:
        if not near(top, limit):
            return None
    else:
        if failed is None or len(failed) != n:
            return None
        before = failed[k - 1] if k > 0 else 0
        after_requests = x[-1] - (x[k - 1] if k > 0 else 0)
        if after_requests <= 0 or failed[-1] - before < 0.5 * after_requests:
            return None
    rise = trend(x[: k + 1], y[: k + 1]).slope if k >= 2 else 0.0
    if rise <= 0 and x[k] > x[0]:
        rise = (y[k] - y[0]) / (x[k] - x[0])
    return Pinned(k, int(y[k]), rise)


def warmup_rise(
    x: Sequence[float], y: Sequence[float], *, warmup: int, min_rise: int = MIN_RISE
) -> int:
    """How far a count rose above its level before the load (``y[0]``) during the warm-up
    and stayed: the lowest count after the warm-up less that level, when it is ``min_rise``
    or more (else 0). Memory is judged without the warm-up (caches fill); a descriptor or
    thread count that climbed by hundreds while the warm-up ran and never came down is a
    finding all the same."""
    after = [b for a, b in zip(x, y, strict=True) if a > warmup]
    if not y or not after:
        return 0
    rise = int(min(after) - y[0])
    return rise if rise >= min_rise else 0
