"""``memhound soak``: drive an app, watch what it retains, and give a leak verdict.

- ``engine``: the soak itself, in-process (``soak``, its options, meters and series, the three
  heap snapshots and what grows between them);
- ``server``: a real server over HTTP (started by memhound or already running), measured from
  outside and through its workers' agents;
- here, ``run_soak``: the whole command (the run directory, the driver, the soak, soak.json).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace

from memhound._fsutil import atomic_write, make_private_dir
from memhound.load.base import Driver
from memhound.model.run import Run, open_run
from memhound.model.timeline import Timeline
from memhound.model.verdict import SOAK_FILE, SoakResult
from memhound.workflows.soak.engine import HttpOptions, Progress, SoakOptions, SoakPlan, soak
from memhound.workflows.soak.server import soak_server

__all__ = ["HttpOptions", "Progress", "SoakOptions", "SoakPlan", "run_soak", "soak"]


def run_soak(
    plan: SoakPlan,
    *,
    say: Callable[[str], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[SoakResult, Run]:
    """Soak ``plan``'s target and save the run: run.json, soak.json, and the heap snapshots
    when it leaks. ``say`` gets a line about each step (the server found, the URLs),
    ``on_progress`` a reading after each sample."""
    started = time.time()
    writer = open_run(
        "soak",
        ("soak", plan.target),
        started,
        output_dir=plan.output_dir,
        runs_dir=plan.runs_dir,
    )
    snapshots_dir = make_private_dir(writer.path / "snapshots") if plan.snapshots else None
    options = replace(plan.options, snapshots_dir=snapshots_dir)
    if plan.driver == "http":
        result = soak_server(plan, options, writer.path, say=say, on_progress=on_progress)
    else:
        driver = _in_process_driver(plan)
        try:
            result = soak(driver, plan.target, options, on_progress=on_progress)
        finally:
            close = getattr(driver, "close", None)
            if close is not None:
                close()
        result = replace(result, driver=plan.driver)
    atomic_write(writer.path / SOAK_FILE, json.dumps(result.to_dict(), indent=1) + "\n")
    done = replace(writer.meta, status="complete", duration_s=result.duration_s)
    writer.finish(done, None)
    return result, Run(path=writer.path, meta=done, timeline=Timeline())


def _in_process_driver(plan: SoakPlan) -> Driver:
    from memhound.load.base import load_target

    app = load_target(plan.target)
    if plan.driver == "wsgi":
        from memhound.load.wsgi import WsgiDriver

        return WsgiDriver(app, plan.paths or ("/",))
    if plan.driver == "asgi":
        from memhound.load.asgi import AsgiDriver

        return AsgiDriver(app, plan.paths or ("/",))
    from memhound.load.call import CallDriver

    return CallDriver(app, plan.target)
