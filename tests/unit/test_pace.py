"""sampler.pace: the one pacing loop of run and watch, on a fake clock (nothing sleeps)."""

from __future__ import annotations

from collections.abc import Callable

from memhound.sampler import pace


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, delay_s: float) -> None:
        assert delay_s > 0
        self.slept.append(round(delay_s, 9))
        self.now += delay_s


def steps(clock: FakeClock, costs: list[float]) -> tuple[list[float], Callable[[float], bool]]:
    """A step that records its ``t``, takes ``costs[i]`` seconds, and stops after the last."""
    seen: list[float] = []

    def step(t: float) -> bool:
        seen.append(round(t, 9))
        clock.now += costs[len(seen) - 1]
        return len(seen) == len(costs)

    return seen, step


def test_steps_fall_on_a_fixed_grid() -> None:
    clock = FakeClock()
    seen, step = steps(clock, [0.25, 0.1, 0.0, 0.5])
    pace(1.0, step, clock=clock, sleep=clock.sleep)
    assert seen == [0.0, 1.0, 2.0, 3.0]  # the step's cost does not stretch the interval
    assert clock.slept == [0.75, 0.9, 1.0]


def test_an_overrun_restarts_the_grid_from_now_without_a_burst() -> None:
    clock = FakeClock()
    seen, step = steps(clock, [2.5, 0.0, 0.0])
    pace(1.0, step, clock=clock, sleep=clock.sleep)
    assert seen == [0.0, 2.5, 3.5]
    assert clock.slept == [1.0]  # no sleep right after the overrun, no catching up


def test_time_counts_from_start() -> None:
    clock = FakeClock(now=10.0)
    seen, step = steps(clock, [0.0, 0.0])
    pace(0.5, step, start=9.7, clock=clock, sleep=clock.sleep)
    assert seen == [0.3, 0.5]  # the first step is late, the grid is still start's
    assert clock.slept == [0.2]


def test_a_sleep_that_wakes_early_brings_the_next_step_sooner() -> None:
    clock = FakeClock()
    seen, step = steps(clock, [0.0, 0.0, 0.0])

    def woken(delay_s: float) -> None:  # run's sleep returns as soon as its job exits
        clock.now += min(delay_s, 0.1)

    pace(1.0, step, clock=clock, sleep=woken)
    assert seen == [0.0, 0.1, 0.2]  # a step at each wake-up (run's last tick, at its exit)


def test_a_step_that_stops_at_once_never_sleeps() -> None:
    clock = FakeClock()
    seen, step = steps(clock, [0.0])
    pace(1.0, step, clock=clock, sleep=clock.sleep)
    assert seen == [0.0] and clock.slept == []
