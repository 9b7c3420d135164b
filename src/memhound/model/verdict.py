"""The soak verdict: leak, plateau or inconclusive, per endpoint, what grows, and resources."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
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
