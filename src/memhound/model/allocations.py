"""Allocation reports: what an engine counted (``EngineResult``) and the grouped report
(``AllocReport``) saved as ``alloc.json`` in a Run.

Figures, all for one profiled block:

- *allocated*: every allocation made through Python's allocators while the block ran, also the
  memory freed again before it ended (a ``realloc`` counts what it added). ``None`` when the
  engine cannot see it.
- *retained*: what was allocated in the block and is still alive after it, after a full gc.
- *peak*: the highest amount of memory allocated in the block and not yet freed at one moment
  (net of what the block itself freed; memory from before the block does not count).

A sampled report (``sample_interval`` set) holds estimates: each row carries the number of
samples behind it, and ``confidence_95`` gives the ± of a figure from that number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from memhound.model._format import check_format
from memhound.model.run import Run, read_artifact

ALLOC_FORMAT = "memhound.alloc"
ALLOC_VERSION = 2  # 2: sample_interval, samples per row and total (sampled mode)
ALLOC_FILE = "alloc.json"


@dataclass(frozen=True)
class Frame:
    filename: str
    lineno: int
    function: str


@dataclass
class EngineResult:
    """The counts of one block by site, as an engine hands them over (before grouping).

    A site is a call stack, innermost frame first; counts are ``(objects, bytes)``.
    """

    engine: str
    frames: int
    sites: dict[int, tuple[Frame, ...]]
    allocated: dict[int, tuple[int, int]] | None
    retained: dict[int, tuple[int, int]]
    at_peak: dict[int, tuple[int, int]] | None
    peak_bytes: int | None
    #: The breakdown at the peak was copied when the block held this much (within the margin).
    peak_snapshot_bytes: int | None = None
    peak_margin_bytes: int | None = None
    #: Objects alive after the block that were allocated in it: (type name, site, bytes).
    objects: list[tuple[str, int, int]] = field(default_factory=list)
    #: Strings among them: (text, site, bytes); the text is truncated.
    strings: list[tuple[str, int, int]] = field(default_factory=list)
    #: Strings allocated and freed in the block: (text, site, count, bytes); ``None`` when the
    #: engine cannot see them.
    freed_strings: list[tuple[str, int, int, int]] | None = None
    notes: list[str] = field(default_factory=list)
    #: Sampled mode: the mean sampling interval in bytes (``None``: every allocation counted),
    #: and the samples behind each site's figures, by figure ("allocated", "retained",
    #: "at_peak"); the counts above are then estimates.
    sample_interval: int | None = None
    samples: dict[str, dict[int, int]] | None = None


@dataclass(frozen=True)
class Row:
    """One line of a table: ``key`` (a package, file, location, type or string), objects and
    bytes; ``where`` is the allocation location of a type or string, or a location's function."""

    key: str
    count: int
    bytes: int
    where: str = ""
    #: Sampled mode: how many samples the estimate rests on (``None``: an exact count).
    samples: int | None = None


@dataclass(frozen=True)
class Breakdown:
    by_package: tuple[Row, ...]
    by_file: tuple[Row, ...]
    by_location: tuple[Row, ...]
    #: ``None`` where the engine cannot know types (allocated memory, the peak).
    by_type: tuple[Row, ...] | None = None


@dataclass(frozen=True)
class StackRow:
    """A call stack (outermost frame first, ``path:line function``) and what it allocated."""

    frames: tuple[str, ...]
    allocated_count: int
    allocated_bytes: int
    retained_count: int
    retained_bytes: int


@dataclass(frozen=True)
class AllocReport:
    engine: str
    frames: int
    duration_s: float
    allocated_count: int | None
    allocated_bytes: int | None
    retained_count: int
    retained_bytes: int
    peak_bytes: int | None
    peak_margin_bytes: int | None
    allocated: Breakdown | None
    retained: Breakdown
    at_peak: Breakdown | None
    strings_allocated: tuple[Row, ...] | None
    strings_retained: tuple[Row, ...]
    stacks: tuple[StackRow, ...]
    notes: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    #: How the program ended under ``memhound profile`` (exit code, interrupted, exception).
    outcome: str = ""
    #: Sampled mode: the mean sampling interval in bytes; ``None``: exact (every allocation).
    sample_interval: int | None = None
    #: Sampled mode: the samples behind the allocated, retained and peak totals.
    allocated_samples: int | None = None
    retained_samples: int | None = None
    peak_samples: int | None = None

    @property
    def sampled(self) -> bool:
        return self.sample_interval is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"format": ALLOC_FORMAT, "version": ALLOC_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AllocReport:
        check_format(
            d, name=ALLOC_FORMAT, version=ALLOC_VERSION, what="allocation report", where=ALLOC_FILE
        )

        def rows(items: Any) -> tuple[Row, ...]:
            return tuple(Row(**r) for r in items)

        def breakdown(b: Any) -> Breakdown | None:
            if b is None:
                return None
            return Breakdown(
                by_package=rows(b["by_package"]),
                by_file=rows(b["by_file"]),
                by_location=rows(b["by_location"]),
                by_type=None if b.get("by_type") is None else rows(b["by_type"]),
            )

        retained = breakdown(d["retained"])
        assert retained is not None
        return cls(
            engine=str(d["engine"]),
            frames=int(d["frames"]),
            duration_s=float(d["duration_s"]),
            allocated_count=d.get("allocated_count"),
            allocated_bytes=d.get("allocated_bytes"),
            retained_count=int(d["retained_count"]),
            retained_bytes=int(d["retained_bytes"]),
            peak_bytes=d.get("peak_bytes"),
            peak_margin_bytes=d.get("peak_margin_bytes"),
            allocated=breakdown(d.get("allocated")),
            retained=retained,
            at_peak=breakdown(d.get("at_peak")),
            strings_allocated=(
                None if d.get("strings_allocated") is None else rows(d["strings_allocated"])
            ),
            strings_retained=rows(d.get("strings_retained") or ()),
            stacks=tuple(
                StackRow(
                    frames=tuple(s["frames"]),
                    allocated_count=int(s["allocated_count"]),
                    allocated_bytes=int(s["allocated_bytes"]),
                    retained_count=int(s["retained_count"]),
                    retained_bytes=int(s["retained_bytes"]),
                )
                for s in d.get("stacks") or ()
            ),
            notes=tuple(d.get("notes") or ()),
            target=tuple(d.get("target") or ()),
            outcome=str(d.get("outcome") or ""),
            sample_interval=d.get("sample_interval"),
            allocated_samples=d.get("allocated_samples"),
            retained_samples=d.get("retained_samples"),
            peak_samples=d.get("peak_samples"),
        )


#: The normal quantile of a two-sided 95% interval.
Z95 = 1.96


def confidence_95(samples: int) -> float:
    """The relative half-width of a 95% interval around an estimate resting on ``samples``
    samples. Poisson sampling by bytes: the number of samples a site gets is Poisson, so the
    relative standard error of its estimate is about 1/sqrt(samples) (less for allocations
    larger than the interval, which are sampled almost surely). ``inf`` without samples."""
    return Z95 / samples**0.5 if samples > 0 else float("inf")


def load_alloc(run: Run) -> AllocReport:
    """The allocation report a ``memhound profile`` run saved (alloc.json)."""
    return AllocReport.from_dict(read_artifact(run.path, ALLOC_FILE))
