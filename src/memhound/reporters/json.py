"""The JSON report: a stable schema (docs/json-schema.md), one object."""

from __future__ import annotations

import json
from typing import Any

from memhound.model.run import Run

SCHEMA = "memhound.run-report"
SCHEMA_VERSION = 1


class JsonReporter:
    def __init__(self, *, indent: int | None = 2) -> None:
        self.indent = indent

    def to_dict(self, run: Run) -> dict[str, Any]:
        assert run.summary is not None, "summarize the run first (memhound.load_run does)"
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "run_dir": str(run.path),
            "meta": run.meta.to_dict(),
            "summary": run.summary.to_dict(),
            "checkpoints": [
                {
                    "t": c.t,
                    "pid": c.pid,
                    "label": c.label,
                    "reading": c.reading.to_dict() if c.reading else None,
                }
                for c in run.timeline.checkpoints
            ],
        }

    def render(self, run: Run) -> str:
        return json.dumps(self.to_dict(run), indent=self.indent) + "\n"
