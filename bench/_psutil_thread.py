"""A peer sampler for ``sampler_overhead.py``: the simplest in-process RSS poller.

    python bench/_psutil_thread.py INTERVAL_S SCRIPT [ARGS...]

Starts a daemon thread that reads ``psutil.Process().memory_info().rss`` every INTERVAL_S
seconds, then runs SCRIPT as ``__main__`` in this same interpreter (``runpy.run_path``), with
``sys.argv`` set as if SCRIPT had been started directly. When the environment variable
``BENCH_PSUTIL_PEAK_FILE`` is set, the highest RSS the thread saw is written there at exit,
so the benchmark can compare what the sampler saw with the kernel's exact peak.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time

import psutil

PEAK_FILE_ENV = "BENCH_PSUTIL_PEAK_FILE"


class _Poller:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.peak_rss = 0
        self.samples = 0
        self._proc = psutil.Process()

    def run(self) -> None:
        while True:
            rss = self._proc.memory_info().rss
            self.samples += 1
            if rss > self.peak_rss:
                self.peak_rss = rss
            time.sleep(self.interval_s)


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: _psutil_thread.py INTERVAL_S SCRIPT [ARGS...]")
    interval_s = float(sys.argv[1])
    script = sys.argv[2]
    poller = _Poller(interval_s)
    threading.Thread(target=poller.run, name="psutil-poller", daemon=True).start()
    sys.argv = [script, *sys.argv[3:]]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        peak_file = os.environ.get(PEAK_FILE_ENV)
        if peak_file:
            with open(peak_file, "w") as fh:
                fh.write(f"{poller.peak_rss} {poller.samples}\n")


if __name__ == "__main__":
    main()
