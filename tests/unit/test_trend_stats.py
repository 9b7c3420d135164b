"""Theil-Sen, Sen's interval and Mann-Kendall on series of known shape."""

from __future__ import annotations

import math
import random

import pytest

from memhound.leaks.stats import _z, trend


def test_normal_quantiles() -> None:
    assert _z(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert _z(0.5) == pytest.approx(0.0, abs=1e-12)
    assert _z(0.01) == pytest.approx(-2.326348, abs=1e-6)


def test_steady_growth_under_noise_is_found() -> None:
    rng = random.Random(7)
    x = list(range(200))
    y = [1000 * i + rng.gauss(0, 20_000) for i in x]
    t = trend(x, y)
    assert t.ci_low < 1000 < t.ci_high
    assert 800 < t.slope < 1200
    assert t.p_value < 1e-6 and t.growing()


def test_noise_alone_is_not_growth() -> None:
    rng = random.Random(11)
    for _ in range(20):
        y = [rng.gauss(0, 5000) for _ in range(100)]
        t = trend(list(range(100)), y)
        assert not t.growing(), t


def test_outliers_do_not_move_the_slope() -> None:
    y = [100.0 * i for i in range(50)]
    y[10] = 1e9  # one wild sample (a gc pause, a burst)
    assert trend(list(range(50)), y).slope == pytest.approx(100.0)


def test_plateau_and_sawtooth_are_not_growth() -> None:
    x = list(range(120))
    plateau = [float(min(i, 10) * 1000) for i in x][20:]
    assert not trend(x[20:], plateau).growing()
    saw = [float((i % 10) * 1000) for i in x]  # gc sawtooth: rises, drops, rises
    assert not trend(x, saw).growing()


def test_short_and_flat_series() -> None:
    t = trend([0, 1], [0, 5])
    assert t.ci_low == -math.inf and not t.growing()
    flat = trend(list(range(30)), [7.0] * 30)
    assert flat.slope == 0 and not flat.growing()
    with pytest.raises(ValueError):
        trend([1, 2, 3], [1, 2])


def test_long_series_are_thinned_but_still_right() -> None:
    x = list(range(10_000))
    t = trend(x, [3.0 * i for i in x])
    assert t.slope == pytest.approx(3.0) and t.n <= 1500
