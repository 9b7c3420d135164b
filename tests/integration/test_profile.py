"""memhound.profile on real allocations of known shape, with both engines."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import memhound
from memhound.alloc.engine import native_available, native_state
from memhound.model.allocations import AllocReport, Row
from memhound.model.run import RUN_FILE
from tests.conftest import mh

HERE = Path(__file__).name
ENGINES = ["native", "tracemalloc"]
needs_native = pytest.mark.skipif(not native_available(), reason="native engine not built")


def line_of(marker: str) -> int:
    """The line of this file holding ``# <marker>``."""
    for n, text in enumerate(Path(__file__).read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# {marker}"):
            return n
    raise AssertionError(marker)


def loc(marker: str) -> str:
    return f"{HERE}:{line_of(marker)}"


def row(rows: tuple[Row, ...] | None, key: str) -> Row | None:
    assert rows is not None
    return next((r for r in rows if r.key.endswith(key)), None)


@pytest.fixture(autouse=True)
def _nothing_left_hooked() -> object:
    yield
    state = native_state()
    if state is not None:
        assert state["blocks"] == 0 and state["installed"] == 0, state
        assert state["live"] == 0 and state["sites"] == 0, state


class Widget:
    def __init__(self, n: int) -> None:
        self.n = n


def make_widgets(n: int) -> list[Widget]:
    return [Widget(i) for i in range(n)]  # widgets


class Point:
    """No managed __dict__: Python 3.11's tracemalloc cannot find instances of classes with
    one (get_object_traceback ignores the pre-header; fixed in 3.12)."""

    __slots__ = ("x",)

    def __init__(self, x: int) -> None:
        self.x = x


def make_points(n: int) -> list[Point]:
    return [Point(i) for i in range(n)]  # points


def churn_dicts(n: int) -> int:
    tmp = [{"k": i, "v": i} for i in range(n)]  # dicts
    total = len(tmp)
    del tmp
    return total


def big_list_and_free() -> None:
    big = [None] * (100 * 1024 * 1024 // 8)  # big-list
    del big


def words(n: int) -> list[str]:
    return ["=".join(("key", str(i % 4))) for i in range(n)]  # strings


@needs_native
def test_retained_widgets_and_allocated_dicts_at_their_lines() -> None:
    with memhound.profile(top=200) as p:
        kept = make_widgets(10_000)
        churn_dicts(50_000)
    r = p.report.data
    types = r.retained.by_type
    widget = row(types, "Widget")
    assert widget is not None and widget.count == 10_000, types
    assert widget.where.endswith(loc("widgets"))
    dicts = row(r.allocated.by_location if r.allocated else None, loc("dicts"))
    assert dicts is not None and dicts.count >= 50_000
    # freed: not retained (a few blocks may stay in CPython's free lists, allocated still)
    left = row(r.retained.by_location, loc("dicts"))
    assert left is None or left.bytes < 16 * 1024, left
    assert r.allocated_bytes is not None and r.allocated_bytes > r.retained_bytes
    assert len(kept) == 10_000


@needs_native
def test_live_table_stays_exact_through_growth_and_random_frees() -> None:
    # 300,000 blocks make every shard of the live table grow many times; freeing a random
    # half in random order exercises deletion (entries shifted back) across those growths.
    import random

    rng = random.Random(7)
    with memhound.profile() as p:
        items = make_points(300_000)
        order = list(range(len(items)))
        rng.shuffle(order)
        for i in order[:150_000]:
            items[i] = None  # type: ignore[call-overload]
    point = row(p.report.data.retained.by_type, "Point")
    assert point is not None and point.count == 150_000
    assert sum(x is not None for x in items) == 150_000


@pytest.mark.parametrize("engine", ENGINES)
def test_retained_type_count_is_exact_with_either_engine(engine: str) -> None:
    if engine == "native" and not native_available():
        pytest.skip("native engine not built")
    with memhound.profile(engine=engine) as p:
        kept = make_points(10_000)
    point = row(p.report.data.retained.by_type, "Point")
    assert point is not None and point.count == 10_000 and point.where.endswith(loc("points"))
    assert len(kept) == 10_000


@needs_native
def test_a_freed_100_mib_list_is_at_the_peak_not_retained() -> None:
    with memhound.profile() as p:
        big_list_and_free()
    r = p.report.data
    assert r.peak_bytes is not None and r.peak_bytes >= 100 * 1024 * 1024
    assert r.at_peak is not None
    at_peak = row(r.at_peak.by_location, loc("big-list"))
    assert at_peak is not None and at_peak.bytes >= 100 * 1024 * 1024
    assert row(r.retained.by_location, loc("big-list")) is None
    assert r.retained_bytes < 1024 * 1024


def huge_zeros() -> bytes:
    """calloc'd: its pages are never touched, so it costs no RSS."""
    return bytes(4 * 1024**3 + 100)  # huge


@needs_native
def test_blocks_of_4_gib_and_more_keep_their_exact_size() -> None:
    with memhound.profile() as p:
        kept = huge_zeros()
        huge_zeros()
    r = p.report.data
    size = 4 * 1024**3 + 100
    retained = row(r.retained.by_location, loc("huge"))
    assert retained is not None and size <= retained.bytes < size + 1024
    allocated = row(r.allocated.by_location if r.allocated else None, loc("huge"))
    assert allocated is not None and 2 * size <= allocated.bytes < 2 * size + 2048
    assert r.peak_bytes is not None and 2 * size <= r.peak_bytes < 2 * size + 1024**2
    assert len(kept) == size


def numpy_kept() -> Any:
    import numpy as np

    # 80 MB of data, outside Python's allocators
    return np.zeros(10_000_000)  # np-kept


def numpy_scratch() -> float:
    import numpy as np

    # 200 MB, freed
    t = np.empty(25_000_000)  # np-scratch
    t.fill(1.0)
    return float(t.sum())


@needs_native
def test_numpy_array_data_is_allocated_retained_and_at_the_peak_at_its_line() -> None:
    np = pytest.importorskip("numpy")
    with memhound.profile() as p:
        kept = numpy_kept()
        numpy_scratch()
    assert np._core.multiarray.get_handler_name() == "default_allocator"  # put back
    r = p.report.data
    retained = row(r.retained.by_location, loc("np-kept"))
    assert retained is not None and 80_000_000 <= retained.bytes < 80_100_000
    assert row(r.retained.by_location, loc("np-scratch")) is None
    peak = row(r.at_peak.by_location if r.at_peak else None, loc("np-scratch"))
    assert peak is not None and peak.bytes >= 200_000_000
    allocated = row(r.allocated.by_location if r.allocated else None, loc("np-scratch"))
    assert allocated is not None and allocated.bytes >= 200_000_000
    assert any("numpy's array data is counted" in n for n in r.notes)
    del kept  # allocated through memhound's handler, freed after the block: just passes through


def test_numpy_imported_inside_the_block_is_hooked_once_it_loads(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    if not native_available():
        pytest.skip("native engine not built")
    script = tmp_path / "np_job.py"
    script.write_text(
        "import sys\n"
        "assert 'numpy' not in sys.modules\n"
        "import memhound\n"
        "with memhound.profile(frames=1) as p:\n"
        "    import numpy as np\n"
        "    kept = np.zeros(5_000_000)\n"
        "print(max(r.bytes for r in p.report.data.retained.by_location if r.key.endswith(':6')))\n"
        "print(np._core.multiarray.get_handler_name())\n"
        "print(any(type(f).__name__ == '_NumpyWatch' for f in sys.meta_path))\n"
    )
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    kept_bytes, handler, watching = res.stdout.split()
    assert 40_000_000 <= int(kept_bytes) < 40_100_000
    assert handler == "default_allocator" and watching == "False"


def test_tracemalloc_engine_is_honest_about_what_it_cannot_see() -> None:
    with memhound.profile(engine="tracemalloc") as p:
        big_list_and_free()
        kept = words(100)
    r = p.report.data
    assert r.allocated is None and r.allocated_bytes is None and r.at_peak is None
    assert r.peak_bytes is not None and r.peak_bytes >= 100 * 1024 * 1024
    assert any("not measured" in n or "not seen" in n for n in r.notes)
    assert "not measured" in p.report.text()
    assert not tracemalloc.is_tracing()
    assert len(kept) == 100


@pytest.mark.parametrize("engine", ENGINES)
def test_repeated_strings_show_with_their_count(engine: str) -> None:
    if engine == "native" and not native_available():
        pytest.skip("native engine not built")
    with memhound.profile(engine=engine) as p:
        kept = words(4000)
    strings = p.report.data.strings_retained
    hit = row(strings, "key=3")
    assert hit is not None and hit.count == 1000 and hit.where.endswith(loc("strings"))
    assert len(kept) == 4000


def widget_stream(n: int) -> Iterator[Widget]:
    for i in range(n):
        yield Widget(i)  # generator


async def widgets_later(n: int) -> list[Widget]:
    await asyncio.sleep(0)
    return [Widget(i) for i in range(n)]  # coroutine


def deep(n: int) -> list[Widget]:
    return deep(n - 1) if n else make_widgets(50)


@needs_native
def test_generators_coroutines_and_deep_stacks_attribute_to_their_lines() -> None:
    with memhound.profile(frames=64) as p:
        a = list(widget_stream(300))
        b = asyncio.run(widgets_later(200))
        c = deep(200)
    r = p.report.data
    assert r.frames == 64
    where = {
        x.where.rsplit(":", 1)[-1]: x.count for x in r.retained.by_type or () if "Widget" in x.key
    }
    assert where[str(line_of("generator"))] == 300
    assert where[str(line_of("coroutine"))] == 200
    assert where[str(line_of("widgets"))] == 50
    deepest = max(len(s.frames) for s in r.stacks)
    assert deepest == 64
    assert len(a) + len(b) + len(c) == 550


def passing_strings(n: int) -> int:
    total = 0
    for i in range(n):
        s = "-".join(("tmp", str(i % 5)))  # passing-strings
        total += len(s)
    return total


@needs_native
def test_allocated_strings_count_the_freed_ones_too() -> None:
    with memhound.profile() as p:
        passing_strings(10_000)
        kept = words(400)
    r = p.report.data
    assert r.strings_allocated is not None
    hit = row(r.strings_allocated, "tmp-4")
    assert hit is not None and hit.count == 2000 and hit.where.endswith(loc("passing-strings"))
    kept_row = row(r.strings_allocated, "key=1")  # alive at the end: allocated too
    assert kept_row is not None and kept_row.count == 100
    assert row(r.strings_retained, "tmp-4") is None
    assert len(kept) == 400


def many_strings(n: int) -> int:
    total = 0
    for i in range(n):
        total += len(f"unique-{i}") + len("-".join(("needle", "x")))  # many-strings
    return total


@needs_native
def test_repeated_strings_survive_a_flood_of_distinct_ones() -> None:
    with memhound.profile() as p:
        many_strings(40_000)
    r = p.report.data
    needle = row(r.strings_allocated, "needle-x")
    assert needle is not None and needle.count >= 39_990, needle
    assert any("8,192 distinct" in n for n in r.notes), r.notes


@needs_native
def test_nested_and_repeated_blocks_each_count_their_own() -> None:
    with memhound.profile() as outer:
        a = make_widgets(1000)
        with memhound.profile() as inner:
            b = make_widgets(2000)
        c = make_widgets(3000)
    for _ in range(2):  # the same again: nothing carried over
        with memhound.profile() as again:
            d = make_widgets(500)
    assert row(inner.report.data.retained.by_type, "Widget").count == 2000  # type: ignore[union-attr]
    assert row(outer.report.data.retained.by_type, "Widget").count == 6000  # type: ignore[union-attr]
    assert row(again.report.data.retained.by_type, "Widget").count == 500  # type: ignore[union-attr]
    assert len(a) + len(b) + len(c) + len(d) == 6500


@needs_native
def test_blocks_keep_their_own_objects_when_the_epoch_counter_runs_over() -> None:
    # Entries carry a 16-bit epoch that moves at every block start and end; past 65,535 they
    # are renumbered. A block ended before that and one still counting must still tell their
    # own objects from the rest.
    from memhound._native import _alloc  # type: ignore[attr-defined]

    with memhound.profile() as outer:
        before = make_widgets(100)
        ended, _ = _alloc.start(1)
        mine = make_widgets(300)
        _alloc.end(ended)
        for _ in range(35_000):  # 70,000 starts and ends
            slot, _ = _alloc.start(1)
            _alloc.end(slot)
            _alloc.release(slot)
        state = native_state()
        assert state is not None and state["epoch"] < 0xFFFF - 60_000, state  # renumbered
        after = make_widgets(200)
        found = {id(o) for o, _site, _size in _alloc.new_objects(ended, before + mine + after)}
        _alloc.release(ended)
        with memhound.profile() as inner:
            inner_widgets = make_widgets(50)
    assert found == {id(w) for w in mine}
    assert row(inner.report.data.retained.by_type, "Widget").count == 50  # type: ignore[union-attr]
    assert row(outer.report.data.retained.by_type, "Widget").count == 650  # type: ignore[union-attr]
    assert len(before) + len(after) + len(inner_widgets) == 350


@needs_native
def test_threads_allocating_during_the_block_are_counted() -> None:
    out: list[list[Widget]] = []
    with memhound.profile() as p:
        t = threading.Thread(target=lambda: out.append(make_widgets(5000)))
        t.start()
        t.join()
    assert row(p.report.data.retained.by_type, "Widget").count == 5000  # type: ignore[union-attr]


@needs_native
def test_a_block_that_raises_still_reports_and_unhooks() -> None:
    p = memhound.profile()
    with pytest.raises(ValueError), p:
        kept = make_widgets(700)  # noqa: F841
        raise ValueError("boom")
    r = p.report.data
    assert r.outcome == "raised ValueError"
    assert row(r.retained.by_type, "Widget").count == 700  # type: ignore[union-attr]


def test_tracemalloc_state_is_restored_when_it_was_already_on() -> None:
    tracemalloc.start(3)
    try:
        with memhound.profile() as p:
            kept = make_widgets(300)
        assert tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == 3
        assert row(p.report.data.retained.by_type, "Widget").count == 300  # type: ignore[union-attr]
        with memhound.profile(engine="tracemalloc") as q:
            more = make_points(200)
        assert tracemalloc.is_tracing()
        assert row(q.report.data.retained.by_type, "Point").count == 200  # type: ignore[union-attr]
    finally:
        tracemalloc.stop()
    assert len(kept) + len(more) == 500


@needs_native
def test_tracemalloc_started_inside_a_block_keeps_working() -> None:
    with memhound.profile() as p:
        tracemalloc.start()
        kept = make_points(100)
    # our hooks sit under tracemalloc's now: they stay as a pass-through, never unhook it
    assert tracemalloc.is_tracing()
    assert tracemalloc.get_object_traceback(kept[0]) is not None
    tracemalloc.stop()
    state = native_state()
    assert state is not None and state["blocks"] == 0
    assert row(p.report.data.retained.by_type, "Point").count == 100  # type: ignore[union-attr]
    # a later block reuses the pass-through hooks; afterwards nothing is on top of the chain
    with memhound.profile() as q:
        again = make_widgets(10)
    assert row(q.report.data.retained.by_type, "Widget").count == 10  # type: ignore[union-attr]
    assert len(again) == 10
    gc.collect()


@needs_native
def test_tracemalloc_stopped_inside_a_block_does_not_break_later_blocks() -> None:
    tracemalloc.start()
    with memhound.profile():  # our hooks go on top of tracemalloc's...
        tracemalloc.stop()  # ...which takes them out of the chain with its own
    with memhound.profile() as q:
        kept = make_points(123)
    assert row(q.report.data.retained.by_type, "Point").count == 123  # type: ignore[union-attr]
    assert len(kept) == 123


@needs_native
def test_decorator_start_stop_and_saving(tmp_path: Path) -> None:
    @memhound.profile(top=5)
    def job() -> list[Widget]:
        return make_widgets(250)

    kept = job()
    report = job.profile.report  # type: ignore[attr-defined]
    assert row(report.data.retained.by_type, "Widget").count == 250
    p = memhound.profile()
    p.start()
    more = make_widgets(40)
    report2 = p.stop()
    assert row(report2.data.retained.by_type, "Widget").count == 40  # type: ignore[union-attr]
    report2.save(tmp_path / "a.json")
    again = AllocReport.from_dict(json.loads((tmp_path / "a.json").read_text()))
    assert again == report2.data
    report2.save(tmp_path / "a.html")
    assert "Plotly" in (tmp_path / "a.html").read_text()
    assert json.loads(report2.to_json())["format"] == "memhound.alloc"
    assert len(kept) + len(more) == 290


@needs_native
def test_paths_are_normalised_and_filters_apply() -> None:
    import json as json_mod

    payload = json_mod.dumps([{"a": i} for i in range(3000)])
    with memhound.profile(frames=1) as p:
        data = json_mod.loads(payload)
    files = [r.key for r in p.report.data.allocated.by_file]  # type: ignore[union-attr]
    assert any(f.startswith("<stdlib>/json/") for f in files), files
    with memhound.profile(ignore=["<stdlib>"], frames=1) as q:
        data2 = json_mod.loads(payload)
    files2 = [r.key for r in q.report.data.allocated.by_file]  # type: ignore[union-attr]
    assert not any(f.startswith("<stdlib>") for f in files2), files2
    with memhound.profile(allow=["*/json/*"], frames=1) as r:
        data3 = json_mod.loads(payload)
    pkgs = {x.key for x in r.report.data.allocated.by_package}  # type: ignore[union-attr]
    assert pkgs == {"<stdlib>"}
    assert len(data) + len(data2) + len(data3) == 9000


@needs_native
def test_memhounds_own_frames_are_excluded_by_default() -> None:
    with memhound.profile() as p:
        kept = make_widgets(10)
    files = {r.key for r in p.report.data.allocated.by_file}  # type: ignore[union-attr]
    assert not any("memhound/" in f for f in files), files
    assert len(kept) == 10


# -- the command ---------------------------------------------------------------------------

PROGRAM = """
import sys
assert sys.argv[0].endswith("job.py"), sys.argv
class Order:
    pass
orders = [Order() for _ in range(3000)]
junk = [dict(i=i) for i in range(20000)]
del junk
label = "<script>alert(1)</script>" * 2
labels = [label[:-1] + str(i % 2) for i in range(100)]
if "--exit" in sys.argv:
    sys.exit(3)
if "--interrupt" in sys.argv:
    raise KeyboardInterrupt
"""


@pytest.fixture()
def program(in_tmp: Path) -> Path:
    path = in_tmp / "job.py"
    path.write_text(PROGRAM)
    return path


def test_cli_writes_a_run_with_alloc_json_and_html(program: Path) -> None:
    res = mh("profile", "-o", "r", "--format", "json", "job.py", "a")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    report = AllocReport.from_dict(json.loads((program.parent / "r" / "alloc.json").read_text()))
    assert data["retained_count"] == report.retained_count
    orders = row(report.retained.by_type, "Order")
    assert orders is not None and orders.count == 3000 and orders.where == "job.py:6"
    assert (program.parent / "r" / "report.html").is_file()
    meta = json.loads((program.parent / "r" / RUN_FILE).read_text())["meta"]
    assert meta["kind"] == "profile" and meta["exit"]["returncode"] == 0
    again = mh("report", "r", "--format", "text")
    assert again.returncode == 0, again.stderr
    assert "retained memory by type" in again.stdout and "__main__.Order" in again.stdout


@pytest.mark.parametrize(
    ("flag", "code", "word"), [("--exit", 3, "SystemExit"), ("--interrupt", 130, "Keyboard")]
)
def test_cli_report_is_written_when_the_program_exits_or_is_interrupted(
    program: Path, flag: str, code: int, word: str
) -> None:
    res = mh("profile", "-o", "r", "job.py", flag)
    assert res.returncode == code, res.stderr
    report = AllocReport.from_dict(json.loads((program.parent / "r" / "alloc.json").read_text()))
    assert word in report.outcome
    assert row(report.retained.by_type, "Order").count == 3000  # type: ignore[union-attr]


def test_cli_module_form(program: Path) -> None:
    res = mh("profile", "-o", "r", "--format", "none", "-m", "job")
    assert res.returncode == 0, res.stderr
    report = AllocReport.from_dict(json.loads((program.parent / "r" / "alloc.json").read_text()))
    assert row(report.retained.by_type, "Order").count == 3000  # type: ignore[union-attr]


def test_run_with_profile_records_memory_and_allocations(program: Path) -> None:
    res = mh(
        "run", "--profile", "-q", "-o", "r", "--", sys.executable, "-X", "dev", "job.py", "--exit"
    )
    assert res.returncode == 3, res.stderr
    run_dir = program.parent / "r"
    report = AllocReport.from_dict(json.loads((run_dir / "alloc.json").read_text()))
    assert row(report.retained.by_type, "Order").count == 3000  # type: ignore[union-attr]
    assert "SystemExit" in report.outcome
    assert (run_dir / "alloc.html").is_file() and (run_dir / "report.html").is_file()
    meta = json.loads((run_dir / RUN_FILE).read_text())["meta"]
    assert meta["kind"] == "run" and meta["exit"]["returncode"] == 3
    res = mh("run", "--profile", "-q", "-o", "r2", "--", "true")
    assert res.returncode == 2 and "needs a Python script" in res.stderr


def test_cli_clear_errors(in_tmp: Path) -> None:
    res = mh("profile", "missing.py")
    assert res.returncode == 127 and "no such script" in res.stderr and "hint:" in res.stderr
    res = mh("profile", "-m", "no_such_module_here")
    assert res.returncode == 127 and "not importable" in res.stderr and "hint:" in res.stderr
    res = mh("profile")
    assert res.returncode == 2 and "nothing to profile" in res.stderr
    (in_tmp / "broken.py").write_text("def f(:\n")
    res = mh("profile", "broken.py")
    assert res.returncode == 2 and "does not compile" in res.stderr and "hint:" in res.stderr
    res = mh("profile", "-m", "broken")
    assert res.returncode == 2 and "does not compile" in res.stderr
    assert not (in_tmp / "memhound-runs").exists() or not any((in_tmp / "memhound-runs").iterdir())


def test_native_engine_is_importable_here() -> None:
    """CI builds the extension for every interpreter it tests (pip install -e .)."""
    assert native_available(), f"memhound._native._alloc not built for {sys.version}"


def test_without_the_native_engine_auto_falls_back_to_tracemalloc() -> None:
    """As on a machine where the extension could not be compiled: the import fails."""
    code = (
        "import sys; sys.modules['memhound._native._alloc'] = None\n"
        "import memhound\n"
        "class Thing:\n    __slots__ = ('n',)\n"
        "with memhound.profile() as p:\n    kept = [Thing() for _ in range(1234)]\n"
        "r = p.report.data\n"
        "print(r.engine, r.allocated_bytes, [x.count for x in r.retained.by_type if"
        " x.key.endswith('Thing')])\n"
        "import tracemalloc; assert not tracemalloc.is_tracing()\n"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["tracemalloc", "None", "[1234]"], out
    res = subprocess.run(
        [sys.executable, "-c", code.replace("profile()", "profile(engine='native')")],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and "pip install --force-reinstall" in res.stderr
