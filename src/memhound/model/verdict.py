"""The soak verdict: leak, plateau or inconclusive, per endpoint, what grows, and resources."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from memhound.errors import RunFormatError
from memhound.model.run import Run, read_artifact

SOAK_FILE = "soak.json"


@dataclass(frozen=True)
class EndpointResult:
    endpoint: str
    requests: int
    errors: int
    #: None when the endpoint's round could not be judged (``inconclusive`` says why).
    leak: bool | None
    bytes_per_request: float
    ci95: tuple[float, float]
    inconclusive: str | None = None


@dataclass(frozen=True)
class GrowingGroup:
    """Objects new after the first round of load and still alive after the second."""

    class_name: str
    count: int
    retained_bytes: int
    path: str


@dataclass(frozen=True)
class ResourceVerdict:
    leak: bool
    per_request: float
    ci95: tuple[float, float]
    first: int
    last: int
    #: The count rose this far above its level before the load during the warm-up and never
    #: came back (the trend after the warm-up cannot see it): 0 when it did not.
    warmup_rise: int = 0


@dataclass(frozen=True)
class ResourceLimit:
    """The most of a resource the target may hold, read at the start of a soak.

    ``value`` None: unknown or unlimited, as ``source`` says. ``reserved``: how many of them
    memhound holds itself while the program runs (in-process), which the program cannot
    reach."""

    resource: str
    value: int | None
    source: str
    reserved: int = 0

    @property
    def reachable(self) -> int | None:
        return None if self.value is None else self.value - self.reserved


@dataclass(frozen=True)
class Saturation:
    """A resource that grew until a limit and stayed there: a leak, whatever followed.

    ``level``: the count it stayed at; ``reached_at_requests`` / ``reached_at_s``: the first
    sample at that level (requests done, seconds since the load began);
    ``per_request_before``: its growth per request until then; ``failed_after``: the
    requests that failed from the sample before it on (its consequence)."""

    resource: str
    level: int
    limit: int | None
    limit_source: str
    reached_at_requests: int
    reached_at_s: float
    per_request_before: float
    failed_after: int
    requests_after: int

    def sentence(self) -> str:
        """ "fds reached the limit of 256 (RLIMIT_NOFILE of pid 42) after 230 requests
        (1.2 s), +1.00 per request before that; 370 of the 370 requests after it failed"."""
        if self.limit is not None:
            where = f"reached the limit of {self.limit:,} ({self.limit_source})"
        else:
            where = f"stopped growing at {self.level:,} (limit unknown: {self.limit_source})"
        failed = (
            f"{self.failed_after:,} of the {self.requests_after:,} requests from then on failed"
            if self.requests_after
            else "no request followed"
        )
        return (
            f"{self.resource} {where} after {self.reached_at_requests:,} requests "
            f"({self.reached_at_s:.3g} s), {self.per_request_before:+.2f} per request before "
            f"that; {failed}"
        )


@dataclass(frozen=True)
class LeftOpen:
    """A socket, file, connection or thread opened during the soak and still open at its
    end, with the line that created it."""

    kind: str
    what: str
    created_at: str
    count: int = 1


@dataclass(frozen=True)
class SoakResult:
    target: str
    #: True: a leak; False: a plateau; None: no verdict, for the reason in ``inconclusive``
    #: (too many failed requests, or too few samples after the warm-up).
    leak: bool | None
    bytes_per_request: float
    ci95: tuple[float, float]
    p_value: float
    warmup_requests: int
    requests: int
    errors: int
    duration_s: float
    requests_per_s: float
    rss_bytes_per_request: float
    per_endpoint: tuple[EndpointResult, ...]
    growing: tuple[GrowingGroup, ...]
    resources: dict[str, ResourceVerdict]
    snapshots: tuple[str, ...]
    series: tuple[tuple[int, int, int], ...]  # (requests done, traced bytes, RSS bytes)
    errors_watching: tuple[str, ...] = ()  # servers that could not be read (masked)
    left_open: tuple[LeftOpen, ...] = ()
    #: What the series measures: "python-heap" (traced, after a full collection) or "rss"
    #: (a server without memhound's agent).
    measured: str = "python-heap"
    concurrency: int = 1
    #: Why the target stopped before the end (a server that died), or None.
    target_gone: str | None = None
    endpoints: int = 1
    #: How the soak was driven: "wsgi", "asgi", "call" or "http", and the server's pids.
    driver: str = ""
    server_pids: tuple[int, ...] = ()
    #: Requests of the short round run after the verdict, with deep stacks, when a resource
    #: grows (so that ``left_open`` names the app's line); included in ``left_open`` counts.
    stacks_requests: int = 0
    #: Why there is no verdict (``leak`` is None), as a sentence; None when there is one.
    inconclusive: str | None = None
    #: The fraction of failed requests tolerated before the soak is inconclusive.
    max_errors: float = 0.05
    #: A resource that grew until its limit and stayed there (a leak), or None.
    saturated: Saturation | None = None
    #: The limits read at the start, by resource ("fds", "threads", "rss").
    limits: dict[str, ResourceLimit] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (docs/json-schema.md)."""
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        d["per_endpoint"] = [{**asdict(e), "ci95": list(e.ci95)} for e in self.per_endpoint]
        d["resources"] = {k: {**asdict(v), "ci95": list(v.ci95)} for k, v in self.resources.items()}
        d["series"] = [list(s) for s in self.series]
        d["snapshots"] = list(self.snapshots)
        d["errors_watching"] = list(self.errors_watching)
        d["left_open"] = [asdict(x) for x in self.left_open]
        d["growing"] = [asdict(g) for g in self.growing]
        d["server_pids"] = list(self.server_pids)
        d["limits"] = {k: asdict(v) for k, v in self.limits.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SoakResult:
        """Read back ``to_dict()`` (soak.json); fields added later get their defaults."""
        known = {f.name for f in fields(cls)}
        v = {k: d[k] for k in known if k in d}
        v["ci95"] = tuple(d.get("ci95", (0.0, 0.0)))
        v["per_endpoint"] = tuple(
            EndpointResult(**{**e, "ci95": tuple(e["ci95"])}) for e in d.get("per_endpoint", [])
        )
        v["growing"] = tuple(GrowingGroup(**g) for g in d.get("growing", []))
        v["resources"] = {
            k: ResourceVerdict(**{**r, "ci95": tuple(r["ci95"])})
            for k, r in d.get("resources", {}).items()
        }
        v["left_open"] = tuple(LeftOpen(**x) for x in d.get("left_open", []))
        v["series"] = tuple(tuple(s) for s in d.get("series", []))
        v["saturated"] = Saturation(**d["saturated"]) if d.get("saturated") else None
        v["limits"] = {k: ResourceLimit(**x) for k, x in d.get("limits", {}).items()}
        for key in ("snapshots", "errors_watching", "server_pids"):
            v[key] = tuple(d.get(key, ()))
        return cls(**v)


def load_soak(run: Run) -> SoakResult:
    """The verdict a ``memhound soak`` run saved (soak.json)."""
    try:
        return SoakResult.from_dict(read_artifact(run.path, SOAK_FILE))
    except (RunFormatError, TypeError, ValueError, KeyError) as exc:
        raise RunFormatError(
            f"{run.path / SOAK_FILE} is missing or damaged: {exc}",
            hint="the soak did not finish; run it again",
        ) from exc
