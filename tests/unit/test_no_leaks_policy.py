"""When a no_leaks check may stop, and its verdict when it cannot (leaks.detect), on
hand-built series of the retained heap: reading 0 before the first measured iteration, then
one after each."""

from __future__ import annotations

from memhound.leaks.detect import MIN_ITERATIONS, judge_iterations, last_rise, plateaued


def first_stop(series: list[int], **kw: float) -> int | None:
    """The iteration at which a check measuring ``series`` one reading at a time stops."""
    for n in range(1, len(series)):
        if plateaued(series[: n + 1], **kw):  # type: ignore[arg-type]
            return n
    return None


def test_a_flat_heap_stops_after_the_minimum() -> None:
    assert first_stop([5000] * 101) == MIN_ITERATIONS == 5
    assert first_stop([5000] * 101, min_iterations=12) == 12
    # falling counts as flat: what is freed is not a leak
    assert first_stop([5000 - 10 * i for i in range(101)]) == 5


def test_a_cache_that_fills_stops_once_flat_for_as_long_as_it_grew() -> None:
    # a memo taking one new 1 KiB entry per call for 30 calls, then full
    memo = [1024 * min(i, 30) for i in range(101)]
    assert last_rise(memo) == 30
    assert first_stop(memo) == 60
    # one that filled in the first measured call: the minimum after it
    assert first_stop([0, 4096] + [4096] * 99) == 6


def test_an_object_that_comes_and_goes_is_flat() -> None:
    """toolz's test_tlz: +88 B after one call, -88 B after the next, for ever."""
    toggling = [5000 + 368 + (88 if i % 2 else 0) for i in range(101)]
    toggling[0] = 5000
    assert first_stop(toggling) == 6
    # a jump (a dict resized once) is a rise: five iterations after it, the check waits for
    # the low phase
    jumped = [v + (25_000 if i >= 4 else 0) for i, v in enumerate(toggling)]
    assert last_rise(jumped[:10]) == 5  # the jump, then its high phase
    assert first_stop(jumped) == 10


def test_a_leak_never_plateaus_even_when_it_shows_only_every_third_call() -> None:
    assert first_stop([100 * i for i in range(101)]) is None
    every_third = [1024 * (i // 3) for i in range(101)]
    assert first_stop(every_third) is None
    assert judge_iterations(every_third).leak


def test_a_drop_then_a_climb_is_not_flat() -> None:
    """A warm-up's big temporary freed in the first measured iteration leaves every later
    reading below reading 0: "no new high" would call a leak under it flat."""
    series = [1_000_000] + [1000 + 100 * i for i in range(100)]
    assert first_stop(series) is None
    assert judge_iterations(series).leak


def test_an_allowance_lets_growth_below_it_plateau() -> None:
    series = [50 * i for i in range(101)]
    assert first_stop(series, allowance=64) == 5
    assert first_stop(series, allowance=49) is None
    assert not judge_iterations(series, min_per_iteration=64).leak


def test_at_the_cap_steady_growth_is_a_leak_and_growth_that_stopped_is_not() -> None:
    steady = judge_iterations([100 * i for i in range(101)])
    assert steady.leak and steady.steady and steady.per_iteration == 100
    assert steady.iterations == 100
    # grew for 40 of 100 iterations, then flat with a little noise: a cache, filled
    filled = [1024 * min(i, 40) + (8 if i % 7 == 0 else 0) for i in range(101)]
    assert first_stop(filled) is None  # the noise keeps rising: no clear plateau
    verdict = judge_iterations(filled)
    assert not verdict.leak
    assert verdict.second_half_per_iteration == 0


def test_growth_still_slowing_at_the_cap_is_a_leak_that_says_so() -> None:
    """A cache far from full looks like a leak for as long as it fills: the verdict stays
    "leak" (never a wrong "no leak"), marked not steady so that the message can say so."""
    filling = [int(200_000 * (1 - 0.985**i)) for i in range(101)]
    verdict = judge_iterations(filling)
    assert verdict.leak and not verdict.steady
    assert verdict.second_half_per_iteration < verdict.first_half_per_iteration / 2


def test_too_few_readings_are_never_a_leak() -> None:
    assert not judge_iterations([0, 100, 200, 300, 400]).leak
    assert judge_iterations([0, 100, 200, 300, 400, 500]).leak
