"""Results of ``memhound tune``: each configuration's runs and the verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from memhound.model._format import check_format
from memhound.model.run import Run, read_artifact

TUNE_FILE = "tune.json"
TUNE_FORMAT = "memhound.tune"
TUNE_VERSION = 1


@dataclass(frozen=True)
class TuneRun:
    """One run of the command under one configuration."""

    config: str
    round: int
    wall_s: float
    peak_rss_bytes: int | None
    final_rss_bytes: int | None
    returncode: int | None
    iterations: int
    run_dir: str
    error: str | None = None
    #: How often malloc_trim(0) ran in the target (the malloc-trim configuration).
    trims: int = 0


@dataclass(frozen=True)
class Stat:
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class ConfigResult:
    config: str
    description: str
    runs: int
    failed: int
    peak_rss: Stat | None
    final_rss: Stat | None
    wall: Stat | None
    peak_ratio: float | None
    final_ratio: float | None
    wall_ratio: float | None
    better: tuple[str, ...]  # metrics where it beat the baseline beyond the noise
    worse: tuple[str, ...]
    note: str | None = None


@dataclass(frozen=True)
class TuneResult:
    command: tuple[str, ...]
    repeat: int
    min_effect: float
    noise: dict[str, float]  # relative run-to-run spread per metric (one standard deviation)
    needed: dict[str, float]  # smallest relative change that counts with `repeat` runs each
    configs: tuple[ConfigResult, ...]
    runs: tuple[TuneRun, ...]
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = TUNE_FORMAT
        d["version"] = TUNE_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuneResult:
        check_format(d, name=TUNE_FORMAT, version=TUNE_VERSION, what="tune result")

        def stat(x: dict[str, Any] | None) -> Stat | None:
            return Stat(**x) if x else None

        return cls(
            command=tuple(d["command"]),
            repeat=int(d["repeat"]),
            min_effect=float(d["min_effect"]),
            noise=dict(d["noise"]),
            needed=dict(d.get("needed", {})),
            configs=tuple(
                ConfigResult(
                    **{
                        **c,
                        "peak_rss": stat(c["peak_rss"]),
                        "final_rss": stat(c["final_rss"]),
                        "wall": stat(c["wall"]),
                        "better": tuple(c["better"]),
                        "worse": tuple(c["worse"]),
                    }
                )
                for c in d["configs"]
            ),
            runs=tuple(TuneRun(**r) for r in d["runs"]),
            verdict=str(d["verdict"]),
        )


def load_tune(run: Run) -> TuneResult:
    """The side-by-side measurements a ``memhound tune`` run saved (tune.json)."""
    return TuneResult.from_dict(read_artifact(run.path, TUNE_FILE))
