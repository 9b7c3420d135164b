"""``memhound.checkpoint()``: a labelled reading, and a marker on the run's timeline."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TextIO

from memhound import agent
from memhound.agent import contract
from memhound.model.readings import MemoryReading
from memhound.probes.measure import memory

logger = logging.getLogger("memhound")

Output = str | TextIO | Callable[[str, MemoryReading], object] | None


def checkpoint(label: str, *, output: Output = "env") -> MemoryReading:
    """Take a reading of this process, report it, and return it.

    ``output`` says where the one-line report goes: ``"stderr"`` (default), ``"stdout"``,
    ``"log"`` (logger ``memhound`` at INFO), ``"none"``, a file object, or a callable
    ``(label, reading)``. The default follows MEMHOUND_CHECKPOINT_OUTPUT, else stderr.

    Inside ``memhound run`` the reading also becomes a labelled marker on the run's
    timeline and in report.html.

    >>> memhound.checkpoint("after query")
    memhound checkpoint 'after query': rss 443.2 MiB  pss 431.0 MiB  ...
    """
    reading = memory(count_objects=True)
    _send_to_agent(str(label), reading)
    if output == "env":
        output = os.environ.get(contract.ENV_CHECKPOINT_OUTPUT, "stderr")
    line = f"memhound checkpoint {str(label)!r}: {reading}"
    if output is None or output == "none":
        pass
    elif output == "stderr":
        print(line, file=sys.stderr, flush=True)
    elif output == "stdout":
        print(line, flush=True)
    elif output == "log":
        logger.info("%s", line)
    elif callable(output):
        output(str(label), reading)
    elif hasattr(output, "write"):
        output.write(line + "\n")
    return reading


def _send_to_agent(label: str, reading: MemoryReading) -> None:
    if contract.ENV_SOCKET not in os.environ and agent.MODULE_NAME not in sys.modules:
        return
    try:
        mod = agent.load()
        if mod.current() is None:
            mod.start()
        mod.send_checkpoint(label, reading.to_dict())
    except Exception:  # a checkpoint must never break the program
        logger.debug("memhound: checkpoint not sent to the agent", exc_info=True)


def iteration() -> None:
    """Mark one turn of the program's main loop (a request, a batch, a task).

    Costs nothing outside memhound. Under ``memhound tune`` it is where per-iteration
    settings apply (``gc.collect()`` every N iterations, ``gc.freeze()`` after start-up).
    """
    mod = sys.modules.get("_memhound_agent")
    if mod is not None:
        mod.iteration()
