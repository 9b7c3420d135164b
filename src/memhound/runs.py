"""Loading saved runs, with their summary recomputed from the timeline."""

from __future__ import annotations

import os

from memhound.analysis.summary import summarize
from memhound.model.run import Run, load_run_files


def load_run(path: str | os.PathLike[str]) -> Run:
    """Load a run directory written by ``memhound run`` or ``memhound watch``.

    The summary is recomputed from ``timeline.jsonl``, so a run whose memhound was killed
    (status still "running") reads as far as it was recorded.
    """
    run = load_run_files(path)
    run.summary = summarize(run)
    return run
