"""The inconclusive verdict on hand-built data: the rule (leaks.detect.why_inconclusive), what
counts as a failed answer, soak.json with and without the new fields, and the reports."""

from __future__ import annotations

import json

import pytest

from memhound.leaks.detect import MIN_POINTS, judge_series, why_inconclusive
from memhound.load.base import Outcome, answered_ok
from memhound.model.verdict import EndpointResult, ResourceVerdict, SoakResult
from memhound.reporters.soak import SoakHtmlReporter, SoakJsonReporter, SoakTextReporter


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        *((s, True) for s in (200, 204, 302, 399)),
        *((s, False) for s in (404, 401, 500, 503, 101, None)),
    ],
)
def test_only_2xx_and_3xx_answers_are_successes(status: int | None, ok: bool) -> None:
    assert answered_ok(status) is ok


def test_a_failure_is_counted_by_its_kind_not_its_message() -> None:
    assert Outcome("/", False, 500).failure() == "HTTP 500"
    assert Outcome("/", False, None, "TimeoutError: timed out").failure() == "TimeoutError"


def test_the_rule() -> None:
    # enough samples, few errors: a verdict
    assert why_inconclusive(requests=1000, errors=50, points=90, warmup=100) is None
    # more than 5%: none, and the reason says how many and what failed
    why = why_inconclusive(
        requests=1000, errors=51, points=90, warmup=100, common_failure="HTTP 500 on /x (51 times)"
    )
    assert why is not None
    assert why.startswith("51 of 1,000 requests failed (5.1%), more than the 5% allowed")
    assert "most often HTTP 500 on /x (51 times)" in why
    assert why_inconclusive(requests=100, errors=1, points=90, warmup=10, max_errors=0.0)
    assert why_inconclusive(requests=100, errors=100, points=90, warmup=10, max_errors=1.0) is None
    # too few samples after the warm-up for the trend test
    why = why_inconclusive(requests=60, errors=0, points=MIN_POINTS - 1, warmup=50)
    assert why is not None and why.startswith("only 5 samples after the 50 warm-up requests")
    assert why_inconclusive(requests=60, errors=0, points=MIN_POINTS, warmup=50) is None
    # a soak that stopped early says so first
    why = why_inconclusive(
        requests=40, errors=10, points=0, warmup=200, stopped="10 requests in a row got no answer"
    )
    assert why is not None
    assert why.startswith("the soak stopped early (10 requests in a row got no answer): only 0")


def test_min_points_is_what_the_trend_test_needs() -> None:
    """Fewer points than MIN_POINTS and even a perfectly straight climb is not "growing":
    "no leak" there would say nothing."""
    for n, leak in ((MIN_POINTS - 1, False), (MIN_POINTS, True)):
        x = [float(i) for i in range(n)]
        assert judge_series(x, [1000 * v for v in x], warmup=-1).leak is leak


def _result(**kw: object) -> SoakResult:
    base: dict[str, object] = dict(
        target="app:<b>x</b>",
        leak=None,
        bytes_per_request=0.0,
        ci95=(0.0, 0.0),
        p_value=1.0,
        warmup_requests=200,
        requests=60,
        errors=60,
        duration_s=1.0,
        requests_per_s=60.0,
        rss_bytes_per_request=0.0,
        per_endpoint=(
            EndpointResult("/<script>", 300, 300, None, 0.0, (0.0, 0.0), "300 of 300 <failed>"),
        ),
        growing=(),
        resources={"fds": ResourceVerdict(False, 0.0, (0.0, 0.0), 7, 7)},
        snapshots=(),
        series=tuple((i * 10, 1000, 2000) for i in range(1, 7)),
        inconclusive="60 of 60 requests failed; most often HTTP 500 on /<script>",
    )
    base.update(kw)
    return SoakResult(**base)  # type: ignore[arg-type]


def test_reports_say_inconclusive_first_and_never_no_leak() -> None:
    r = _result()
    text = SoakTextReporter().render(r)
    assert text.splitlines()[1] == (
        "  verdict: INCONCLUSIVE: 60 of 60 requests failed; most often HTTP 500 on /<script>"
    )
    assert "no leak" not in text.lower() and "steady" not in text
    assert "+0 B per request" not in text  # nothing after the warm-up: no figure to show
    assert "inconclusive  (300 errors): 300 of 300 <failed>" in text
    doc = json.loads(SoakJsonReporter().render(r))
    assert doc["leak"] is None and doc["inconclusive"].startswith("60 of 60")
    assert doc["per_endpoint"][0]["leak"] is None
    page = SoakHtmlReporter().render(r)
    assert 'id="verdict" class="inconclusive">Inconclusive: 60 of 60 requests failed' in page
    assert "most often HTTP 500 on /&lt;script&gt;" in page
    assert "300 of 300 &lt;failed&gt;" in page
    assert '<script>"' not in page and "/<script>" not in page
    assert "no leak" not in page.lower()


def test_soak_json_round_trips_and_old_files_still_load() -> None:
    r = _result()
    assert SoakResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    old = r.to_dict()
    del old["inconclusive"], old["max_errors"]
    old["leak"] = False
    for e in old["per_endpoint"]:
        del e["inconclusive"]
        e["leak"] = False
    back = SoakResult.from_dict(old)
    assert back.leak is False and back.inconclusive is None and back.max_errors == 0.05
    assert back.per_endpoint[0].inconclusive is None
    assert "no leak (plateau)" in SoakTextReporter().render(back)
