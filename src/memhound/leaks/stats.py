"""Trend statistics for "is it growing?": Theil-Sen slope, its confidence interval, and the
Mann-Kendall trend test. Pure Python, for series of up to a few thousand points.

Theil-Sen takes the median of the slopes between all pairs of points, so a few outliers (a
gc sawtooth, one slow request) do not move it; Sen's confidence interval and the
Mann-Kendall test come from the same pairwise comparisons (Hollander & Wolfe, *Nonparametric
Statistical Methods*; Gilbert 1987, ch. 16).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_POINTS = 1500  # pairwise work is quadratic: longer series are thinned evenly


@dataclass(frozen=True)
class Trend:
    """Growth of y per unit of x. ``p_value``: probability of a trend this monotone in
    a series with none (two-sided Mann-Kendall)."""

    slope: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    def growing(self, *, min_slope: float = 0.0, alpha: float = 0.01) -> bool:
        """Growing beyond doubt: the whole 95% interval above ``min_slope`` and a
        significant monotone trend."""
        return self.ci_low > min_slope and self.p_value < alpha and self.slope > 0


def _thin(x: Sequence[float], y: Sequence[float]) -> tuple[list[float], list[float]]:
    n = len(x)
    if n <= MAX_POINTS:
        return list(x), list(y)
    idx = [round(i * (n - 1) / (MAX_POINTS - 1)) for i in range(MAX_POINTS)]
    return [x[i] for i in idx], [y[i] for i in idx]


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def trend(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95) -> Trend:
    """Theil-Sen slope with Sen's ``confidence`` interval and the Mann-Kendall p-value."""
    if len(x) != len(y):
        raise ValueError("x and y differ in length")
    xs, ys = _thin(x, y)
    n = len(xs)
    if n < 3:
        return Trend(0.0, -math.inf, math.inf, 1.0, n)
    slopes: list[float] = []
    s = 0
    for i in range(n - 1):
        xi, yi = xs[i], ys[i]
        for j in range(i + 1, n):
            dy = ys[j] - yi
            s += (dy > 0) - (dy < 0)
            dx = xs[j] - xi
            if dx != 0:
                slopes.append(dy / dx)
    if not slopes:
        return Trend(0.0, -math.inf, math.inf, 1.0, n)
    slopes.sort()
    m = len(slopes)
    slope = slopes[m // 2] if m % 2 else (slopes[m // 2 - 1] + slopes[m // 2]) / 2
    # Variance of the Mann-Kendall S, with the correction for tied y values.
    ties: dict[float, int] = {}
    for v in ys:
        ties[v] = ties.get(v, 0) + 1
    var_s = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties.values())) / 18
    if var_s <= 0:
        return Trend(slope, slope, slope, 1.0, n)
    z_ci = _z(1 - (1 - confidence) / 2)
    c = z_ci * math.sqrt(var_s)
    lo_rank = max(0, math.floor((m - c) / 2))
    hi_rank = min(m - 1, math.ceil((m + c) / 2))
    z = (s - 1) / math.sqrt(var_s) if s > 0 else (s + 1) / math.sqrt(var_s) if s < 0 else 0.0
    p = 2 * (1 - _normal_cdf(abs(z)))
    return Trend(slope, slopes[lo_rank], slopes[hi_rank], p, n)


def _z(q: float) -> float:
    """The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    if not 0 < q < 1:
        raise ValueError("q must be in (0, 1)")
    if q < 0.02425:
        t = math.sqrt(-2 * math.log(q))
        return (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) / (
            (((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1
        )
    if q > 1 - 0.02425:
        return -_z(1 - q)
    t = q - 0.5
    r = t * t
    return (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * t
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
