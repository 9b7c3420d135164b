"""The import-cost report: a tree of modules with what importing each one cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from memhound.model._format import check_format
from memhound.model.run import Run, read_artifact

IMPORTS_FORMAT = "memhound.imports"
IMPORTS_VERSION = 1
IMPORTS_FILE = "imports.json"
STDLIB = "<stdlib>"
OWN_CODE = "<your code>"


@dataclass(frozen=True)
class ImportNode:
    """One module. Inclusive figures count what it imported in turn; ``self_*`` do not.

    ``rss_bytes`` is the growth of the process's RSS while the module ran (page granular);
    ``traced_bytes`` the growth of the Python heap as tracemalloc saw it (None when not
    traced); ``time_s`` wall time, measured in a run without tracemalloc.
    """

    name: str
    parent: str | None
    origin: str | None
    distribution: str
    time_s: float
    rss_bytes: int
    traced_bytes: int | None
    self_time_s: float
    self_rss_bytes: int
    self_traced_bytes: int | None
    children: tuple[str, ...]
    also_imported_by: tuple[str, ...]
    failed: bool = False


@dataclass(frozen=True)
class ImportReport:
    target: tuple[str, ...]
    python: str
    executable: str
    ok: bool
    error: str | None
    total_time_s: float
    rss_start_bytes: int
    rss_end_bytes: int
    traced: bool
    preloaded: tuple[str, ...]
    roots: tuple[str, ...]
    nodes: tuple[ImportNode, ...]

    def node(self, name: str) -> ImportNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = IMPORTS_FORMAT
        d["version"] = IMPORTS_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImportReport:
        check_format(d, name=IMPORTS_FORMAT, version=IMPORTS_VERSION, what="import report")
        nodes = tuple(
            ImportNode(
                **{
                    **n,
                    "children": tuple(n.get("children", ())),
                    "also_imported_by": tuple(n.get("also_imported_by", ())),
                }
            )
            for n in d.get("nodes", ())
        )
        return cls(
            target=tuple(d.get("target", ())),
            python=str(d.get("python", "")),
            executable=str(d.get("executable", "")),
            ok=bool(d.get("ok", True)),
            error=d.get("error"),
            total_time_s=float(d.get("total_time_s", 0.0)),
            rss_start_bytes=int(d.get("rss_start_bytes", 0)),
            rss_end_bytes=int(d.get("rss_end_bytes", 0)),
            traced=bool(d.get("traced", False)),
            preloaded=tuple(d.get("preloaded", ())),
            roots=tuple(d.get("roots", ())),
            nodes=nodes,
        )


def load_imports(run: Run) -> ImportReport:
    """The import tree a ``memhound imports`` run saved (imports.json)."""
    return ImportReport.from_dict(read_artifact(run.path, IMPORTS_FILE))
