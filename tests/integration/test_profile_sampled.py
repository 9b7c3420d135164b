"""The native engine's sampled mode (Poisson sampling by bytes) on real allocations: what it
keeps, its estimates against the exact engine, threads, fork, chaining, and the reports."""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import memhound
from memhound.alloc.engine import native_available, native_state
from memhound.errors import UsageError
from memhound.model.allocations import AllocReport, confidence_95
from memhound.reporters.alloc import AllocHtmlReporter, AllocTextReporter
from memhound.workflows.profile import ProfileOptions, ProfileSession
from tests.conftest import mh

pytestmark = pytest.mark.skipif(not native_available(), reason="native engine not built")

KiB = 1024
HERE = Path(__file__).name


@pytest.fixture()
def native() -> Iterator[Any]:
    from memhound._native import _alloc

    yield _alloc
    state = native_state()
    assert state is not None
    assert state["blocks"] == 0 and state["installed"] == 0 and state["live"] == 0, state
    assert state["sample_interval"] == 0, state


def test_unsampled_allocations_leave_nothing_behind(native: Any) -> None:
    """The fast path: at a 1 TiB interval nothing is sampled, so no site was ever looked up
    (no frame walk) and the live table stayed empty, however much the block allocated."""
    block, _ = native.start(8, 2**40, 1)
    try:
        kept = [bytes(64) for _ in range(200_000)]
        state = native.state()
    finally:
        native.end(block)
        native.release(block)
    assert len(kept) == 200_000
    assert state["sample_interval"] == 2**40
    assert state["live"] == 0 and state["sites"] == 0 and state["live_table_bytes"] == 0, state


def test_the_live_table_holds_samples_not_the_heap(native: Any) -> None:
    """500,000 live objects (~50 MiB) at 512 KiB: about 100 entries, not 500,000."""
    block, _ = native.start(8, 512 * KiB, 2)
    try:
        kept = [bytes(60) for _ in range(500_000)]
        state = native.state()
        native.end(block)
        res = native.results(block)
    finally:
        native.release(block)
    del kept
    assert 20 <= state["live"] <= 400, state
    assert res["retained_samples"] == state["live"]
    assert 30 * 2**20 < res["retained_bytes"] < 80 * 2**20, res["retained_bytes"]


def test_freed_samples_take_their_weight_with_them(native: Any) -> None:
    """Everything allocated and freed again: nothing retained, nothing left in the table,
    while allocated is estimated."""
    block, _ = native.start(4, 16 * KiB, 3)
    try:
        for _ in range(20):
            junk = [bytes(200) for _ in range(5000)]
            del junk
        native.end(block)
        res = native.results(block)
        state = native.state()
    finally:
        native.release(block)
    assert state["live"] == 0, state
    assert res["retained_bytes"] == 0 and res["retained_count"] == 0
    # 100,000 x 233 B, plus the lists' item arrays (a realloc counts its new size)
    assert 18 * 2**20 < res["allocated_bytes"] < 40 * 2**20, res["allocated_bytes"]
    assert res["allocated_samples"] > 500


def _sampled_indexes(native: Any, block: int, objs: list[bytes]) -> list[int]:
    found = {id(o) for o, _site, _size in native.new_objects(block, objs)}
    return [i for i, o in enumerate(objs) if id(o) in found]


def test_a_fork_child_samples_on_its_own_stream(native: Any) -> None:
    """Parent and child run the same allocations after fork(): a child that kept the parent's
    generator state would sample exactly the same ones."""
    block, _ = native.start(1, 8 * KiB, 4)
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: allocate, report which were sampled, exit at once
            try:
                objs = [bytes(300) for _ in range(20_000)]
                os.write(w, json.dumps(_sampled_indexes(native, block, objs)).encode())
            finally:
                os._exit(0)
        os.close(w)
        objs = [bytes(300) for _ in range(20_000)]
        mine = _sampled_indexes(native, block, objs)
        with os.fdopen(r, "rb") as f:
            theirs = json.loads(f.read())
        _, status = os.waitpid(pid, 0)
    finally:
        native.end(block)
        native.release(block)
    assert os.waitstatus_to_exitcode(status) == 0
    # 20,000 x 333 B at 8 KiB: ~800 samples each, and different ones
    assert 400 < len(mine) < 1300 and 400 < len(theirs) < 1300, (len(mine), len(theirs))
    assert mine != theirs
    assert len(set(mine) & set(theirs)) < 0.2 * len(mine)


def test_threads_allocating_are_sampled_and_estimated(native: Any) -> None:
    """Four threads keep 4 x 20,000 x 1,033 B (~79 MiB): the estimate is near it, and the
    threads' results are theirs."""
    out: list[list[bytes]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        out[k] = [bytes(1000) for _ in range(20_000)]

    block, _ = native.start(4, 64 * KiB, 5)
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        native.end(block)
        res = native.results(block)
    finally:
        native.release(block)
    assert [len(o) for o in out] == [20_000] * 4
    true = 4 * 20_000 * 1033
    n = res["retained_samples"]
    assert abs(res["retained_bytes"] - true) <= 3 * true / n**0.5, (res["retained_bytes"], n)


def test_chains_to_tracemalloc_and_leaves_it_working(native: Any) -> None:
    tracemalloc.start()
    try:
        block, _ = native.start(4, 32 * KiB, 6)
        try:
            kept = [bytes(500) for _ in range(10_000)]
            traced = tracemalloc.get_traced_memory()[0]
            native.end(block)
            res = native.results(block)
        finally:
            native.release(block)
        assert traced > 5_000_000  # tracemalloc still saw the allocations
        assert res["retained_samples"] > 50
        more = [bytes(500) for _ in range(10_000)]
        assert tracemalloc.get_traced_memory()[0] > traced + 4_000_000
        del kept, more
    finally:
        tracemalloc.stop()


def test_a_nested_block_takes_the_outer_blocks_mode(native: Any) -> None:
    outer, _ = native.start(4, 32 * KiB, 7)
    inner, _ = native.start(4)  # asks for exact: sampled like the outer one
    try:
        assert native.state()["sample_interval"] == 32 * KiB
    finally:
        for b in (inner, outer):
            native.end(b)
            native.release(b)


# -- the API, the command line and the reports --------------------------------------------


def test_profile_sample_reports_estimates_with_their_interval() -> None:
    with memhound.profile(sample="64KiB") as p:
        kept = [bytes(1000) for _ in range(50_000)]  # kept
    data = p.report.data
    assert data.sample_interval == 64 * KiB and data.sampled
    assert data.retained.by_type is None and data.strings_allocated is None
    top = next(r for r in data.retained.by_location if r.key.endswith(f"{HERE}:{line_of('kept')}"))
    assert top.samples is not None and top.samples > 300
    true = 50_000 * 1033
    assert abs(top.bytes - true) <= confidence_95(top.samples) * top.bytes * 1.5
    text = AllocTextReporter().render(data)
    assert "sampled every 64.0 KiB on average" in text and "±" in text
    assert "not measured in sampled mode" in text
    html = AllocHtmlReporter().render(data)
    assert "± (95%)" in html and "sampled every 64.0 KiB" in html
    assert f"~{data.retained_count:,} objects" in html  # counts are estimates too
    again = AllocReport.from_dict(json.loads(p.report.to_json()))
    assert again == data
    del kept


def test_without_sample_the_report_says_exact() -> None:
    with memhound.profile() as p:
        kept = [bytes(100) for _ in range(1000)]
    data = p.report.data
    assert data.sample_interval is None and data.allocated_samples is None
    assert all(r.samples is None for r in data.retained.by_location)
    assert "exact: every allocation counted" in AllocTextReporter().render(data)
    del kept


def test_bad_sample_values_are_usage_errors() -> None:
    for bad in ("0", "lots", 100, -5):
        with pytest.raises(UsageError):
            memhound.profile(sample=bad)
    with pytest.raises(UsageError, match="cannot sample"):
        memhound.profile(sample="64KiB", engine="tracemalloc")


def test_cli_sample_writes_a_sampled_alloc_json(in_tmp: Path) -> None:
    (in_tmp / "job.py").write_text(
        "kept = [bytes(2000) for _ in range(40000)]\nprint('out', len(kept))\n"
    )
    res = mh("profile", "--sample", "128KiB", "-o", "s", "job.py")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "out 40000\n"
    assert "sampled every 128.0 KiB" in res.stderr and "±" in res.stderr
    doc = json.loads((in_tmp / "s" / "alloc.json").read_text())
    assert doc["sample_interval"] == 128 * KiB and doc["retained_samples"] > 100
    res = mh("profile", "-o", "e", "job.py")
    assert res.returncode == 0, res.stderr
    assert json.loads((in_tmp / "e" / "alloc.json").read_text())["sample_interval"] is None
    for bad in ("0", "abc", "100"):
        res = mh("profile", "--sample", bad, "job.py")
        assert res.returncode == 2 and "hint:" in res.stderr, res.stderr


def line_of(marker: str) -> int:
    for n, text in enumerate(Path(__file__).read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# {marker}"):
            return n
    raise AssertionError(marker)


# -- accuracy against the exact engine ----------------------------------------------------

ACCURACY_INTERVAL = 8 * KiB
ACCURACY_ITERATIONS = 250_000


def _accuracy_workload(pattern: tuple[tuple[int, int], ...], sizes: tuple[int, ...]) -> Any:
    """Four sites of about equal bytes (small, medium, near the interval, mixed large), half
    of each kept. Nothing else allocates per iteration: the flags, slots and sizes are made
    before the block (no int objects), and the keep lists are made at their full size."""
    keep_a: list[Any] = [None] * len(pattern)  # keep list a
    keep_b: list[Any] = [None] * len(pattern)  # keep list b
    keep_c: list[Any] = [None] * len(pattern)  # keep list c
    keep_d: list[Any] = [None] * len(pattern)  # keep list d
    for i, n in pattern:
        a = bytes(100)  # site small
        if i & 1:
            keep_a[n] = a
        if i & 2:
            b = bytes(1500)  # site medium
            if i & 4:
                keep_b[n] = b
        if i & 8:
            c = bytes(6000)  # site near the interval
            if i & 16:
                keep_c[n] = c
        if i & 32:
            d = bytes(sizes[i >> 6])  # site mixed large
            if i & 1:
                keep_d[n] = d
    return keep_a, keep_b, keep_c, keep_d


def _pattern() -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    import random

    rng = random.Random(15)
    sizes = tuple(rng.randrange(1_000, 30_000) for _ in range(4))
    pattern = []
    for n in range(ACCURACY_ITERATIONS):
        i = n & 1  # every other small one kept
        if n % 15 == 0:
            i |= 2 | (4 if n % 30 == 0 else 0)
        if n % 60 == 0:
            i |= 8 | (16 if n % 120 == 0 else 0)
        if n % 160 == 0:
            i |= 32 | ((n // 160) % 4) << 6
        pattern.append((i, n))
    return tuple(pattern), sizes


def _by_location(sample: int, seed: int, args: Any) -> AllocReport:
    session = ProfileSession(ProfileOptions(top=1000, sample=sample, sample_seed=seed))
    session.start()
    keep = _accuracy_workload(*args)
    report = session.stop()
    del keep
    return report


@pytest.mark.slow
def test_sampled_estimates_are_within_10_percent_and_inside_their_interval() -> None:
    """Five seeds at an 8 KiB interval (the workload allocates ~135 MiB and keeps ~67 MiB;
    at 512 KiB the same statistics need 64 times the bytes). For every site holding >= 1% of
    the exact allocated (or retained) bytes: the estimate is within 10%, and the exact value
    lies inside the stated 95% interval in >= 90% of (site, seed) pairs."""
    args = _pattern()
    exact = _by_location(0, 0, args)
    assert exact.allocated is not None and exact.allocated_bytes
    checked = inside = 0
    failures = []
    for seed in range(1, 6):
        est = _by_location(ACCURACY_INTERVAL, seed, args)
        assert est.sample_interval == ACCURACY_INTERVAL and est.allocated is not None
        for figure, ref_rows, est_rows, total in (
            ("allocated", exact.allocated.by_location, est.allocated.by_location,
             exact.allocated_bytes),
            ("retained", exact.retained.by_location, est.retained.by_location,
             exact.retained_bytes),
        ):  # fmt: skip
            got = {r.key: r for r in est_rows}
            for ref in ref_rows:
                if ref.bytes < 0.01 * total:
                    continue
                row = got.get(ref.key)
                assert row is not None and row.samples, (figure, ref.key, seed)
                err = abs(row.bytes - ref.bytes) / ref.bytes
                half = confidence_95(row.samples)
                checked += 1
                inside += abs(row.bytes - ref.bytes) <= half * row.bytes
                if err > 0.10:
                    failures.append((seed, figure, ref.key, ref.bytes, row.bytes, row.samples))
    assert not failures, failures
    assert checked >= 5 * 8, checked  # 4 sites + the keep list, allocated and retained
    assert inside >= 0.9 * checked, (inside, checked)
