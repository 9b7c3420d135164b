"""Grouping an engine's counts into the report (pure: data and options in, report out).

Paths are shown the way a reader recognises them: ``site-packages/requests/sessions.py``,
``<stdlib>/json/decoder.py``, the user's own files relative to the working directory. A file's
package is the installed distribution it belongs to, ``<stdlib>`` or ``<user code>``.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from memhound.model.allocations import (
    AllocReport,
    Breakdown,
    EngineResult,
    Frame,
    Row,
    StackRow,
)
from memhound.units import format_bytes

STDLIB = "<stdlib>"
USER = "<user code>"
MAX_STACKS = 2000


@dataclass(frozen=True)
class PathFacts:
    """Where things live in the profiled interpreter (collected once, at the end)."""

    stdlib_dirs: tuple[str, ...]
    site_dirs: tuple[str, ...]
    cwd: str
    #: Files under these prefixes are memhound's own (and the machinery that ran the target).
    own_prefixes: tuple[str, ...] = ()
    #: Top-level import name -> distribution name (read only for files in site-packages).
    distributions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupOptions:
    top: int = 50
    allow: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    include_own: bool = False


def _under(path: str, root: str) -> str | None:
    root = root.rstrip("/")
    if root and path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return None


class _Paths:
    def __init__(self, facts: PathFacts) -> None:
        self.facts = facts
        # the longest directory wins: a venv's site-packages sits inside the project, say
        self.sites = sorted(facts.site_dirs, key=len, reverse=True)
        self.stdlib = sorted(facts.stdlib_dirs, key=len, reverse=True)
        self._cache: dict[str, tuple[str, str]] = {}
        self._own: dict[str, bool] = {}

    def place(self, filename: str) -> tuple[str, str]:
        """(shown path, package) of a file."""
        hit = self._cache.get(filename)
        if hit is None:
            hit = self._cache[filename] = self._place(filename)
        return hit

    def _place(self, filename: str) -> tuple[str, str]:
        if filename.startswith("<frozen "):
            name = filename[len("<frozen ") : -1].replace(".", "/")
            return f"{STDLIB}/{name}.py", STDLIB
        for root in self.sites:
            rel = _under(filename, root)
            if rel is not None:
                top = rel.split("/", 1)[0]
                top = top[:-3] if top.endswith(".py") else top
                return f"site-packages/{rel}", self.facts.distributions.get(top, top)
        for root in self.stdlib:
            rel = _under(filename, root)
            if rel is not None:
                return f"{STDLIB}/{rel}", STDLIB
        rel = _under(filename, self.facts.cwd)
        return (rel if rel is not None else filename), USER

    def own(self, filename: str) -> bool:
        hit = self._own.get(filename)
        if hit is None:
            hit = self._own[filename] = any(
                filename == p or filename.startswith(p.rstrip("/") + "/")
                for p in self.facts.own_prefixes
            )
        return hit


def _matches(patterns: Iterable[str], *values: str) -> bool:
    for pattern in patterns:
        glob = any(c in pattern for c in "*?[")
        for v in values:
            if (glob and fnmatch.fnmatchcase(v, pattern)) or (not glob and pattern in v):
                return True
    return False


@dataclass(frozen=True)
class _Site:
    frames: tuple[Frame, ...]  # innermost first, own frames removed
    path: str
    package: str
    location: str
    function: str


def _sites(result: EngineResult, paths: _Paths, options: GroupOptions) -> dict[int, _Site]:
    """The sites to report: memhound's own allocations and filtered-out files dropped."""
    out: dict[int, _Site] = {}
    for sid, frames in result.sites.items():
        if not options.include_own:
            if frames and paths.own(frames[0].filename):
                continue  # memhound (or the runner) allocating for itself
            # what calls memhound (its command's launcher, runpy) is not the program's stack
            cut = next((i for i, f in enumerate(frames) if paths.own(f.filename)), len(frames))
            frames = frames[:cut]
        if not frames:
            continue
        top = frames[0]
        path, package = paths.place(top.filename)
        location = f"{path}:{top.lineno}"
        if options.allow and not _matches(options.allow, path, package, location):
            continue
        if options.ignore and _matches(options.ignore, path, package, location):
            continue
        out[sid] = _Site(frames, path, package, location, top.function)
    return out


def _rows(totals: dict[tuple[str, str], list[int]], top: int, sampled: bool) -> tuple[Row, ...]:
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
    return tuple(
        Row(key=k, count=c, bytes=b, where=w, samples=n if sampled else None)
        for (k, w), (c, b, n) in ranked[:top]
    )


def _breakdown(
    counts: dict[int, tuple[int, int]],
    sites: dict[int, _Site],
    top: int,
    samples: dict[int, int] | None = None,
) -> tuple[Breakdown, int, int, int]:
    """The breakdown and its totals (objects, bytes, samples; samples only when sampled)."""
    by: dict[str, dict[tuple[str, str], list[int]]] = {
        k: defaultdict(lambda: [0, 0, 0]) for k in ("package", "file", "location")
    }
    total_count = total_bytes = total_samples = 0
    for sid, (count, nbytes) in counts.items():
        site = sites.get(sid)
        if site is None:
            continue
        n = samples.get(sid, 0) if samples is not None else 0
        total_count += count
        total_bytes += nbytes
        total_samples += n
        for key, where, table in (
            (site.package, "", by["package"]),
            (site.path, "", by["file"]),
            (site.location, site.function, by["location"]),
        ):
            acc = table[(key, where)]
            acc[0] += count
            acc[1] += nbytes
            acc[2] += n
    sampled = samples is not None
    return (
        Breakdown(
            by_package=_rows(by["package"], top, sampled),
            by_file=_rows(by["file"], top, sampled),
            by_location=_rows(by["location"], top, sampled),
        ),
        total_count,
        total_bytes,
        total_samples,
    )


def _by_key(
    items: Iterable[tuple[str, int, int]], sites: dict[int, _Site], top: int
) -> tuple[Row, ...]:
    """Rows by (key, allocation location): types, strings."""
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for key, sid, nbytes in items:
        site = sites.get(sid)
        if site is None:
            continue
        a = acc[(key, site.location)]
        a[0] += 1
        a[1] += nbytes
    if not acc:
        return ()
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    return tuple(Row(key=k, count=c, bytes=b, where=w) for (k, w), (c, b) in ranked[:top])


def _strings(
    items: Iterable[tuple[str, int, int, int]], sites: dict[int, _Site], top: int
) -> tuple[Row, ...]:
    """The most repeated strings: count and bytes by text, with the location making most.
    Items are (text, site, count, bytes)."""
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    where: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for text, sid, count, nbytes in items:
        site = sites.get(sid)
        if site is None:
            continue
        a = acc[text]
        a[0] += count
        a[1] += nbytes
        where[text][site.location] += count
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    rows = []
    for text, (count, nbytes) in ranked[:top]:
        locs = sorted(where[text].items(), key=lambda kv: -kv[1])
        shown = locs[0][0] + (f" (+{len(locs) - 1} more)" if len(locs) > 1 else "")
        rows.append(Row(key=text, count=count, bytes=nbytes, where=shown))
    return tuple(rows)


def _stacks(result: EngineResult, sites: dict[int, _Site], paths: _Paths) -> tuple[StackRow, ...]:
    acc: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for sid, site in sites.items():
        a_count, a_bytes = (result.allocated or {}).get(sid, (0, 0))
        r_count, r_bytes = result.retained.get(sid, (0, 0))
        if not (a_bytes or r_bytes):
            continue
        key = tuple(
            f"{paths.place(f.filename)[0]}:{f.lineno} {f.function}".rstrip()
            for f in reversed(site.frames)
        )
        a = acc[key]
        a[0] += a_count
        a[1] += a_bytes
        a[2] += r_count
        a[3] += r_bytes
    ranked = sorted(acc.items(), key=lambda kv: -(kv[1][1] + kv[1][3]))[:MAX_STACKS]
    return tuple(StackRow(k, v[0], v[1], v[2], v[3]) for k, v in ranked)


def group(
    result: EngineResult,
    facts: PathFacts,
    options: GroupOptions,
    *,
    duration_s: float,
    target: tuple[str, ...] = (),
    outcome: str = "",
) -> AllocReport:
    """The report of one block."""
    paths = _Paths(facts)
    sites = _sites(result, paths, options)
    top = options.top
    samples = result.samples if result.sample_interval is not None else None
    allocated = None
    allocated_count = allocated_bytes = allocated_samples = None
    if result.allocated is not None:
        allocated, allocated_count, allocated_bytes, n = _breakdown(
            result.allocated, sites, top, None if samples is None else samples["allocated"]
        )
        allocated_samples = n if samples is not None else None
    retained, retained_count, retained_bytes, n = _breakdown(
        result.retained, sites, top, None if samples is None else samples["retained"]
    )
    retained_samples = n if samples is not None else None
    types = [(name, sid, size) for name, sid, size in result.objects]
    retained = Breakdown(
        retained.by_package,
        retained.by_file,
        retained.by_location,
        _by_key(types, sites, top) if samples is None else None,
    )
    retained_strings = [(text, sid, 1, size) for text, sid, size in result.strings]
    strings_allocated = None
    if result.freed_strings is not None:
        # allocated in the block: the ones freed again, and the ones still alive
        strings_allocated = _strings([*result.freed_strings, *retained_strings], sites, top)
    at_peak = None
    peak_samples = None
    if result.at_peak is not None:
        at_peak, _, _, n = _breakdown(
            result.at_peak, sites, top, None if samples is None else samples["at_peak"]
        )
        peak_samples = n if samples is not None else None
    notes = list(result.notes)
    if result.sample_interval is not None:
        notes.insert(
            0,
            f"sampled: one sample per {format_bytes(result.sample_interval)} allocated on "
            "average (Poisson sampling by bytes); every figure is an estimate, ± the half-width "
            "of a 95% interval from the samples behind it (1.96/sqrt(samples)). A realloc "
            "counts its new size in allocated. Types and strings are not measured in sampled "
            "mode.",
        )
    if result.peak_margin_bytes is not None and at_peak is not None:
        notes.append(
            "the breakdown at the peak was copied when the block held "
            f"{format_bytes(result.peak_snapshot_bytes)}, within "
            f"{format_bytes(result.peak_margin_bytes)} of its peak"
        )
    elif result.peak_bytes is not None and result.at_peak is None and result.engine == "native":
        notes.append("the peak stayed under 64 KiB: no breakdown at the peak was copied")
    if options.allow or options.ignore:
        notes.append(
            "only allocations whose location matched the filters are counted "
            f"(allow {list(options.allow)}, ignore {list(options.ignore)})"
        )
    return AllocReport(
        engine=result.engine,
        frames=result.frames,
        duration_s=duration_s,
        allocated_count=allocated_count,
        allocated_bytes=allocated_bytes,
        retained_count=retained_count,
        retained_bytes=retained_bytes,
        peak_bytes=result.peak_bytes,
        peak_margin_bytes=result.peak_margin_bytes if at_peak is not None else None,
        allocated=allocated,
        retained=retained,
        at_peak=at_peak,
        strings_allocated=strings_allocated,
        strings_retained=_strings(retained_strings, sites, top),
        stacks=_stacks(result, sites, paths),
        notes=tuple(notes),
        target=target,
        outcome=outcome,
        sample_interval=result.sample_interval,
        allocated_samples=allocated_samples,
        retained_samples=retained_samples,
        peak_samples=peak_samples,
    )
