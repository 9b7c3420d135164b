"""The contract between memhound and its in-process agent, in one place: the environment a
program is started with (every ``MEMHOUND_*`` variable memhound sets or reads), the kinds of
message the agent sends back, and how a signal is written into the environment.

The agent (``_boot/``) runs in the observed interpreter with the standard library only and
cannot import this module, so it keeps its own copies under the same ``ENV_`` names;
``tests/unit/test_contract.py`` checks that the two sides agree.
"""

from __future__ import annotations

import signal

# The heap walkers read it below the agent's layer (memhound.heap): it lives with the C
# extensions it turns off, and is listed here with the rest.
from memhound._native import ENV_NO_NATIVE as ENV_NO_NATIVE

# -- where and how the agent reports (memhound run, memhound soak --serve) ---------------------
ENV_SOCKET = "MEMHOUND_AGENT_SOCKET"  # the channel's socket path
ENV_TRACE = "MEMHOUND_TRACE_PYTHON"  # "1": tracemalloc on, the traced heap sent every interval
ENV_INTERVAL = "MEMHOUND_AGENT_INTERVAL"  # seconds between the agent's traced-heap readings
ENV_GC_KEEP = "MEMHOUND_GC_KEEP"  # collections kept for the report
ENV_BOOT_DIR = "MEMHOUND_BOOT_DIR"  # the boot folder, whose package the heap writer comes from
# "1": tracemalloc (25 frames), so resources still open at exit come with their stack
ENV_RESOURCE_STACKS = "MEMHOUND_RESOURCE_STACKS"

# -- settings memhound tune tries (each applied only when set) ---------------------------------
ENV_GC_THRESHOLD = "MEMHOUND_GC_THRESHOLD"  # "700,10,10": gc.set_threshold at start
ENV_GC_FREEZE = "MEMHOUND_GC_FREEZE"  # "1": gc.freeze() at the first iteration()
ENV_GC_COLLECT_EVERY = "MEMHOUND_GC_COLLECT_EVERY"  # "N": gc.collect() every N iterations
ENV_MALLOC_TRIM = "MEMHOUND_MALLOC_TRIM"  # "1": malloc_trim(0) after each full collection

# -- heap snapshots (memhound run --snapshot-*, memhound soak --serve) -------------------------
ENV_SNAPSHOT_DIR = "MEMHOUND_SNAPSHOT_DIR"
ENV_SNAPSHOT_SIGNAL = "MEMHOUND_SNAPSHOT_SIGNAL"  # one snapshot per signal (signal_value())
ENV_SNAPSHOT_EVERY = "MEMHOUND_SNAPSHOT_EVERY"  # seconds between snapshots
ENV_SNAPSHOT_ABOVE = "MEMHOUND_SNAPSHOT_ABOVE"  # RSS bytes: one snapshot when crossed
ENV_SNAPSHOT_AT_EXIT = "MEMHOUND_SNAPSHOT_AT_EXIT"  # "1": at exit and on SIGTERM
ENV_SNAPSHOT_REDACT = "MEMHOUND_SNAPSHOT_REDACT"  # "1": strings and bytes written as lengths

# On this signal (signal_value()) the agent collects garbage and answers "measured" at once:
# memhound soak pauses its load and asks.
ENV_MEASURE_SIGNAL = "MEMHOUND_MEASURE_SIGNAL"
# On this signal (signal_value()) the agent reads memhound's request from the file named by
# ENV_RESOURCES_REQUEST ({"id": N, "do": "mark" | "deep" | "shallow" | "report", "frames": K})
# and answers KIND_RESOURCES: memhound soak --serve asks where what its soak left open (sockets,
# files, threads, connections) was created.
ENV_RESOURCES_SIGNAL = "MEMHOUND_RESOURCES_SIGNAL"
ENV_RESOURCES_REQUEST = "MEMHOUND_RESOURCES_REQUEST"

# Read by memhound.checkpoint() in the program itself: where its one-line report goes.
ENV_CHECKPOINT_OUTPUT = "MEMHOUND_CHECKPOINT_OUTPUT"

# -- the agent's messages: one JSON object per datagram, its kind under "kind" -----------------
KIND_HELLO = "hello"  # the agent started (pid, python, trace_python, measure_signal, agent_fd)
KIND_GC = "gc"  # a batch of collections: events [[t, generation, collected, uncollectable, s]]
KIND_CHECKPOINT = "checkpoint"
KIND_TRACED = "traced"  # the traced heap (current, peak)
KIND_ITERATIONS = "iterations"  # memhound.iteration() calls so far
KIND_SNAPSHOT = "snapshot"
KIND_SNAPSHOT_FAILED = "snapshot-failed"
KIND_OPEN_RESOURCES = "open-resources"  # what was still open at exit (in batches)
KIND_BYE = "bye"  # the last word, from atexit
KIND_MEASURED = "measured"  # the answer to the measure signal
# the answer to the resources signal: its request's id and action, and for "report" the groups
# left open [{kind, what, count, stack}] in batches, the last one with "last": true
KIND_RESOURCES = "resources"
KINDS = frozenset(
    {
        KIND_HELLO,
        KIND_GC,
        KIND_CHECKPOINT,
        KIND_TRACED,
        KIND_ITERATIONS,
        KIND_SNAPSHOT,
        KIND_SNAPSHOT_FAILED,
        KIND_OPEN_RESOURCES,
        KIND_BYE,
        KIND_MEASURED,
        KIND_RESOURCES,
    }
)


def signal_value(signum: int) -> str:
    """A signal as memhound writes it into the environment: its number. Real-time signals,
    which memhound soak borrows, have no name to write."""
    return str(int(signum))


def parse_signal(value: str | None) -> int:
    """A signal from the environment, read as the agent reads it: a number ("41", as memhound
    writes it) or a signal's exact name ("SIGUSR2", as memhound run wrote it before); 0 when
    absent or unknown (then the agent listens for nothing, and nothing may be sent)."""
    if not value:
        return 0
    if value.isdigit():
        return int(value)
    member = signal.Signals.__members__.get(value)
    return int(member) if member is not None else 0
