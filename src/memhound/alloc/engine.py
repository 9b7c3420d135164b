"""Allocation engines behind one interface: start, end, new objects, results, release.

``NativeEngine`` is memhound's C extension (``memhound._native._alloc``): hooks on Python's
MEM and OBJ allocator domains that count every allocation of the block by site, also what is
freed again, and keep the per-site breakdown near the block's peak; numpy's array data, which
bypasses those domains, through numpy's own allocator hook (see ``_hook_numpy``).
With a sampling interval it samples by bytes instead (``sample``: the mean interval; see
_alloc.c): the counts are estimates with the samples behind each, and only sampled blocks are
kept, so it costs little and its memory does not grow with the heap.
``TracemallocEngine`` is the
fallback where the extension is not built: it sees what is still alive (retained, the peak
total) but not what was allocated and freed inside the block, and says so.
"""

from __future__ import annotations

import bisect
import gc
import sys
from collections.abc import Iterable
from types import CodeType, ModuleType
from typing import Any, Protocol

from memhound._native import load
from memhound._platform import traverse_unsafe_ids
from memhound.model.allocations import EngineResult, Frame

STRING_PREVIEW = 60


class Engine(Protocol):
    name: str
    frames: int
    #: The mean sampling interval in bytes; 0: every allocation is counted.
    sample: int

    def start(self) -> None: ...
    def end(self) -> None: ...
    def suspend(self) -> None: ...
    def resume(self) -> None: ...
    def new_objects(self, objects: list[Any]) -> list[tuple[Any, int, int]]: ...
    def results(self) -> EngineResult: ...
    def release(self) -> None: ...


def _native_engine() -> ModuleType | None:
    """``memhound._native._alloc`` where it is built and supports this interpreter."""
    native = load("_alloc")
    return native if native is not None and native.SUPPORTED else None


def native_available() -> bool:
    return _native_engine() is not None


def make_engine(name: str, frames: int, *, sample: int = 0, seed: int = 0) -> Engine:
    """``auto`` (native where built, else tracemalloc), ``native`` or ``tracemalloc``;
    ``sample`` > 0: the native engine sampling by bytes with that mean interval (``seed``: a
    fixed random stream, for reproducible tests; 0: a new one each time)."""
    native = _native_engine() if name in ("auto", "native") else None
    if name == "auto":
        name = "native" if native is not None or sample else "tracemalloc"
    if name == "native":
        if native is None:
            from memhound.errors import MissingDependency

            raise MissingDependency(
                "memhound's native allocation engine is not built for this interpreter"
                + (" (sampled mode needs it)" if sample else ""),
                hint="reinstall memhound where a C compiler and Python's headers are available "
                "(pip install --force-reinstall memhound), or use engine='tracemalloc'"
                + (" without sample" if sample else ""),
            )
        return NativeEngine(frames, native, sample=sample, seed=seed)
    if name == "tracemalloc":
        if sample:
            from memhound.errors import UsageError

            raise UsageError(
                "the tracemalloc engine cannot sample",
                hint="use engine='native' (or auto) with sample, or drop sample",
            )
        return TracemallocEngine(frames)
    from memhound.errors import UsageError

    raise UsageError(f"unknown engine {name!r}", hint="choose auto, native or tracemalloc")


# -- frames --------------------------------------------------------------------------------


class FrameResolver:
    """(code, bytecode offset) -> Frame, each code object's line table read once."""

    def __init__(self) -> None:
        self._tables: dict[CodeType, tuple[list[int], list[tuple[int, int, int | None]]]] = {}
        self._frames: dict[tuple[CodeType, int], Frame] = {}

    def __call__(self, code: CodeType, offset: int) -> Frame:
        key = (code, offset)
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = self._resolve(code, offset)
        return frame

    def _resolve(self, code: CodeType, offset: int) -> Frame:
        line: int | None = None
        if offset >= 0:
            table = self._tables.get(code)
            if table is None:
                ranges = list(code.co_lines())
                table = self._tables[code] = ([r[0] for r in ranges], ranges)
            i = bisect.bisect_right(table[0], offset) - 1
            if i >= 0:
                start, end, ln = table[1][i]
                if start <= offset < end:
                    line = ln
        name: str = getattr(code, "co_qualname", code.co_name)  # 3.11+
        return Frame(code.co_filename, line if line is not None else code.co_firstlineno, name)


def decode_text(data: bytes, kind: int) -> str:
    """The first characters of a str from its raw data (1, 2 or 4 bytes per character)."""
    codec = {1: "latin-1", 2: f"utf-16-{sys.byteorder[0]}e", 4: f"utf-32-{sys.byteorder[0]}e"}
    usable = len(data) - len(data) % kind
    return data[:usable].decode(codec[kind], errors="replace")


def type_name(t: type) -> str:
    module = getattr(t, "__module__", "builtins")
    return t.__qualname__ if module == "builtins" else f"{module}.{t.__qualname__}"


def find_new_objects(engine: Engine) -> list[tuple[Any, int, int]]:
    """Objects alive now that the engine saw allocated in the block: the gc-tracked ones, and
    the untracked ones (str, bytes, numbers, untracked tuples and dicts) they refer to."""
    found: dict[int, tuple[Any, int, int]] = {}
    tracked = gc.get_objects()
    for item in engine.new_objects(tracked):
        found[id(item[0])] = item
    seen_containers: set[int] = set()
    unsafe = traverse_unsafe_ids()  # _asyncio on CPython 3.12.0-3.12.4: its __dict__ instead
    pending: list[Any] = [o for o in tracked if id(o) not in unsafe]
    pending += [getattr(o, "__dict__", None) for o in unsafe.values()]
    while pending:
        nxt: list[Any] = []
        for i in range(0, len(pending), 4096):
            refs = gc.get_referents(*pending[i : i + 4096])
            for item in engine.new_objects(refs):
                found.setdefault(id(item[0]), item)
            for r in refs:
                if (
                    type(r) in (tuple, dict)
                    and not gc.is_tracked(r)
                    and id(r) not in seen_containers
                ):
                    seen_containers.add(id(r))
                    nxt.append(r)
            del refs
        pending = nxt
    del tracked
    return list(found.values())


def describe_objects(
    items: Iterable[tuple[Any, int, int]],
) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    objects: list[tuple[str, int, int]] = []
    strings: list[tuple[str, int, int]] = []
    for obj, site, size in items:
        t = type(obj)
        objects.append((type_name(t), site, size))
        if t is str:
            strings.append((obj[:STRING_PREVIEW], site, size))
    return objects, strings


# -- the native engine ---------------------------------------------------------------------


class NativeEngine:
    name = "native"

    def __init__(self, frames: int, native: ModuleType, *, sample: int = 0, seed: int = 0) -> None:
        self._native: Any = native  # memhound._native._alloc (make_engine loads it)
        self.frames = frames
        self.sample = sample
        self._seed = seed
        self._block: int | None = None

    def start(self) -> None:
        self._block, self.frames = self._native.start(self.frames, self.sample, self._seed)
        # a nested block takes the outermost one's mode
        self.sample = int(self._native.state()["sample_interval"])
        _hook_numpy(self._native)

    def _id(self) -> int:
        if self._block is None:
            raise RuntimeError("the engine is not started")
        return self._block

    def end(self) -> None:
        self._native.end(self._id())

    def suspend(self) -> None:
        self._native.suspend()

    def resume(self) -> None:
        self._native.resume()

    def new_objects(self, objects: list[Any]) -> list[tuple[Any, int, int]]:
        found: list[tuple[Any, int, int]] = self._native.new_objects(self._id(), objects)
        return found

    def results(self) -> EngineResult:
        raw = self._native.results(self._id())
        resolve = FrameResolver()
        sites = {
            s: tuple(resolve(code, offset) for code, offset in frames)
            for s, frames in raw["sites"].items()
        }
        snap = int(raw["peak_snapshot_bytes"])
        notes = []
        if raw["degraded"]:
            notes.append("memory for the engine's tables ran out: the counts are partial")
        if self._native.state().get("numpy_hooked"):
            notes.append(
                "numpy's array data is counted (numpy's allocator hooked in this thread's "
                "context: arrays made in other threads are not)"
            )
        freed = [
            (decode_text(data, kind)[:STRING_PREVIEW], site, count, nbytes)
            for data, kind, _length, site, count, nbytes in raw["freed_strings"]
        ]
        if raw["freed_strings_dropped"]:
            notes.append(
                f"{raw['freed_strings_dropped']:,} freed strings are not among the allocated "
                "strings: more than 8,192 distinct ones passed, and strings seen once were "
                "forgotten to keep counting the repeated ones"
            )
        interval = int(raw["sample_interval"]) or None
        samples = None
        if interval is not None:
            by_site = raw["samples"]
            samples = {
                figure: {s: triple[i] for s, triple in by_site.items() if triple[i]}
                for i, figure in enumerate(("allocated", "retained", "at_peak"))
            }
        return EngineResult(
            engine=self.name,
            frames=int(raw["frames"]),
            sites=sites,
            allocated=dict(raw["allocated"]),
            retained=dict(raw["retained"]),
            at_peak=dict(raw["at_peak"]) if snap else None,
            peak_bytes=int(raw["peak_bytes"]),
            peak_snapshot_bytes=snap or None,
            peak_margin_bytes=max(int(self._native.PEAK_MARGIN_MIN), snap // 100),
            freed_strings=freed if interval is None else None,
            notes=notes,
            sample_interval=interval,
            samples=samples,
        )

    def release(self) -> None:
        if self._block is not None:
            self._native.release(self._block)
            self._block = None
            if not self._native.state()["blocks"]:
                _unwatch_numpy()


# -- numpy's data buffers ------------------------------------------------------------------
# numpy allocates array data with its own handler, straight from malloc; the extension can
# replace that handler (numpy >= 1.22). A script profiled from its start imports numpy inside
# the block, so until numpy is imported a meta-path finder waits for it.


def _numpy_api() -> Any | None:
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        mod = sys.modules.get(name)
        api = getattr(mod, "_ARRAY_API", None) if mod is not None else None
        if api is not None:
            return api
    return None


def _hook_numpy(native: Any) -> None:
    api = _numpy_api()
    if api is None:
        if "numpy" not in sys.modules and not any(
            isinstance(f, _NumpyWatch) for f in sys.meta_path
        ):
            sys.meta_path.insert(0, _NumpyWatch(native))
        return
    try:
        native.numpy_hook(api)
    except Exception:  # an unexpected numpy: its arrays' data are simply not counted
        pass


def _unwatch_numpy() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _NumpyWatch)]


class _NumpyWatch:
    """Finds nothing itself: wraps the loader of ``numpy`` so the hook goes in once it ran."""

    def __init__(self, native: Any) -> None:
        self.native = native

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "numpy":
            return None
        for finder in sys.meta_path:
            if isinstance(finder, _NumpyWatch) or not hasattr(finder, "find_spec"):
                continue
            spec: Any = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _HookAfterExec(spec.loader, self._loaded)
        return spec

    def _loaded(self) -> None:
        _unwatch_numpy()
        if self.native.state()["blocks"]:
            _hook_numpy(self.native)


class _HookAfterExec:
    """numpy's own loader, with a call after the module has executed."""

    def __init__(self, loader: Any, then: Any) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            self._then()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def native_state() -> dict[str, int] | None:
    """The C engine's hooks and tables (``None`` when it is not built): for tests."""
    native = _native_engine()
    if native is None:
        return None
    state: dict[str, int] = native.state()
    return state


# -- the tracemalloc fallback --------------------------------------------------------------


class TracemallocEngine:
    """tracemalloc sees live blocks only: "allocated" is not measured, the peak is a total."""

    name = "tracemalloc"
    sample = 0

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self._was_tracing = False
        self._before: Any = None
        self._ids_before: set[int] | None = None
        self._peak: int | None = None
        self._base = 0
        self._sites: dict[tuple[Frame, ...], int] = {}

    def start(self) -> None:
        import tracemalloc

        self._was_tracing = tracemalloc.is_tracing()
        if self._was_tracing:
            # someone else's tracemalloc: diff against a snapshot, keep their peak untouched
            self.frames = tracemalloc.get_traceback_limit()
            self._before = tracemalloc.take_snapshot()
            self._ids_before = {id(o) for o in gc.get_objects()}
        else:
            tracemalloc.start(self.frames)
        self._base = tracemalloc.get_traced_memory()[0]

    def end(self) -> None:
        import tracemalloc

        if not self._was_tracing:
            self._peak = max(0, tracemalloc.get_traced_memory()[1] - self._base)

    def suspend(self) -> None:
        return None

    def resume(self) -> None:
        return None

    def _site(self, frames: tuple[Frame, ...]) -> int:
        site = self._sites.get(frames)
        if site is None:
            site = self._sites[frames] = len(self._sites)
        return site

    def _tb_site(self, tb: Any) -> int:
        return self._site(tuple(Frame(f.filename, f.lineno, "") for f in reversed(tb)))

    def new_objects(self, objects: list[Any]) -> list[tuple[Any, int, int]]:
        import tracemalloc

        out = []
        before = self._ids_before
        for obj in objects:
            tb = tracemalloc.get_object_traceback(obj)
            if tb is None or (before is not None and id(obj) in before):
                continue
            out.append((obj, self._tb_site(tb), sys.getsizeof(obj)))
        return out

    def results(self) -> EngineResult:
        import tracemalloc

        snap = tracemalloc.take_snapshot()
        retained: dict[int, tuple[int, int]] = {}
        if self._before is None:
            for stat in snap.statistics("traceback"):
                retained[self._tb_site(stat.traceback)] = (stat.count, stat.size)
        else:
            for diff in snap.compare_to(self._before, "traceback"):
                if diff.size_diff > 0 and diff.count_diff > 0:
                    site = self._tb_site(diff.traceback)
                    retained[site] = (diff.count_diff, diff.size_diff)
        notes = [
            "engine tracemalloc: memory allocated and freed inside the block is not seen "
            "(allocated not measured), and the peak is a total without a breakdown"
        ]
        if self._was_tracing:
            notes.append("tracemalloc was already running: retained is a snapshot difference")
        return EngineResult(
            engine=self.name,
            frames=self.frames,
            sites={s: frames for frames, s in self._sites.items()},
            allocated=None,
            retained=retained,
            at_peak=None,
            peak_bytes=self._peak,
            notes=notes,
        )

    def release(self) -> None:
        import tracemalloc

        if not self._was_tracing and tracemalloc.is_tracing():
            tracemalloc.stop()
        self._before = None
        self._ids_before = None
