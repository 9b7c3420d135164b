"""Saturation on hand-built series (leaks.detect.find_saturation, warmup_rise), the limits
read from a real /proc, soak.json with the new fields, and the reports saying it first."""

from __future__ import annotations

import json
import os
import resource

from memhound.leaks.detect import MIN_RISE, find_saturation, near, warmup_rise
from memhound.model.verdict import ResourceLimit, ResourceVerdict, Saturation, SoakResult
from memhound.probes.limits import resource_limits, rlimits
from memhound.reporters.soak import SoakHtmlReporter, SoakJsonReporter, SoakTextReporter

# 0 requests: the level before the load (10 fds); +1 fd per request until 250 at ~240
# requests, then pinned there.
X = [0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600]
FDS = [10, 70, 130, 190, 250, 250, 250, 249, 250, 250, 250]
FAILED = [0, 0, 0, 0, 0, 58, 118, 178, 238, 298, 358]


def test_a_count_pinned_at_its_limit_is_saturated() -> None:
    p = find_saturation(X, FDS, limit=256, failed=FAILED)
    assert p is not None
    assert (p.index, p.level) == (4, 250)
    assert p.per_request_before == 1.0


def test_pinned_far_below_the_limit_is_not_saturation() -> None:
    assert find_saturation(X, FDS, limit=1024, failed=FAILED) is None
    assert near(250, 256) and not near(240, 256) and near(1000, 1024) and not near(980, 1024)


def test_with_the_limit_unknown_failures_after_the_knee_decide() -> None:
    assert find_saturation(X, FDS, limit=None, failed=FAILED) is not None
    assert find_saturation(X, FDS, limit=None, failed=[0] * len(X)) is None  # a pool filled
    assert find_saturation(X, FDS, limit=None) is None


def test_still_growing_small_or_short_series_are_not_saturated() -> None:
    assert find_saturation(X, [10 + x for x in X], limit=256) is None  # never pinned
    assert find_saturation(X, FDS[:5] + [251] * 6, limit=256) is not None
    small = [10, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15]  # a pool of 5 at a limit of 16
    assert find_saturation(X, small, limit=16) is None  # rose less than MIN_RISE
    assert find_saturation(X[:2], FDS[:2], limit=256) is None
    # reached only at the last sample: one point is no plateau
    assert find_saturation(X, [10 + x // 3 for x in X[:-1]] + [250], limit=256) is None


def test_growth_in_the_warmup_that_never_comes_back() -> None:
    x = [0, 50, 100, 150, 200, 250, 300]
    assert warmup_rise(x, [10, 60, 110, 110, 110, 110, 110], warmup=100) == 100
    assert warmup_rise(x, [10, 15, 15, 15, 15, 15, 15], warmup=100) == 0  # a pool of 5
    assert warmup_rise(x, [10, 60, 110, 110, 10, 110, 110], warmup=100) == 0  # it came back
    assert warmup_rise(x, [10, 40, 40, 40, 40, 40, 40], warmup=100, min_rise=32) == 0
    assert warmup_rise(x, [10] + [10 + MIN_RISE] * 6, warmup=100) == MIN_RISE


def test_limits_of_this_process_from_proc() -> None:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert rlimits(os.getpid())["fds"] == soft
    lim = resource_limits([os.getpid()], reserved_fds=16, given={"threads": 40})
    assert lim["fds"].value == soft and lim["fds"].reachable == soft - 16
    assert lim["fds"].source == f"RLIMIT_NOFILE of pid {os.getpid()}, /proc/{os.getpid()}/limits"
    assert lim["threads"] == ResourceLimit("threads", 40, "--limit")
    gone = resource_limits([2**22 + 7])  # no such pid: unknown, and why
    assert gone["fds"].value is None and gone["fds"].source.startswith("unknown: /proc/")


SAT = Saturation("fds", 250, 256, "RLIMIT_NOFILE of pid 42", 240, 1.5, 1.0, 358, 360)


def _result(**kw: object) -> SoakResult:
    base: dict[str, object] = dict(
        target="app:x",
        leak=True,
        bytes_per_request=26.0,
        ci95=(4.0, 47.0),
        p_value=0.0,
        warmup_requests=60,
        requests=600,
        errors=358,
        duration_s=3.0,
        requests_per_s=200.0,
        rss_bytes_per_request=0.0,
        per_endpoint=(),
        growing=(),
        resources={"fds": ResourceVerdict(True, 0.07, (0.0, 0.1), 10, 250, 240)},
        snapshots=(),
        series=tuple((x, 1000, 2000) for x in X),
        saturated=SAT,
        limits={"fds": ResourceLimit("fds", 256, "RLIMIT_NOFILE of pid 42", 16)},
    )
    base.update(kw)
    return SoakResult(**base)  # type: ignore[arg-type]


def test_reports_say_the_limit_first() -> None:
    r = _result()
    sentence = (
        "fds reached the limit of 256 (RLIMIT_NOFILE of pid 42) after 240 requests (1.5 s), "
        "+1.00 per request before that; 358 of the 360 requests from then on failed"
    )
    assert SAT.sentence() == sentence
    text = SoakTextReporter().render(r).splitlines()
    assert text[1] == f"  verdict: LEAK: {sentence}"
    assert "fds: 10 -> 250" in text[3] and "(SATURATED); limit 256: RLIMIT_NOFILE" in text[3]
    doc = json.loads(SoakJsonReporter().render(r))
    assert list(doc)[:3] == ["target", "leak", "saturated"]
    assert doc["saturated"]["limit"] == 256 and doc["limits"]["fds"]["reserved"] == 16
    page = SoakHtmlReporter().render(r)
    assert f'id="verdict" class="leak">LEAK: {sentence}' in page
    assert "<td>limit 256: RLIMIT_NOFILE of pid 42</td>" in page


def test_soak_json_round_trips_and_files_without_saturation_still_load() -> None:
    r = _result()
    assert SoakResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    old = r.to_dict()
    del old["saturated"], old["limits"]
    for v in old["resources"].values():
        del v["warmup_rise"]
    back = SoakResult.from_dict(old)
    assert back.saturated is None and back.limits == {}
    assert back.resources["fds"].warmup_rise == 0
    unknown = Saturation("fds", 250, None, "not read", 240, 1.5, 1.0, 0, 0)
    assert "stopped growing at 250 (limit unknown: not read)" in unknown.sentence()
    assert "no request followed" in unknown.sentence()
