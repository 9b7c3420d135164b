"""The heap a zoo app retains per request, measured without memhound's statistics: a fresh
process under tracemalloc drives it in a plain loop and divides the heap's growth between two
full collections by the request count (the method of bench/soak_accuracy.py). Per Python
version: a thread or a frame is bigger on 3.10 than on 3.11."""

from __future__ import annotations

import functools
import subprocess
import sys

from tests.conftest import ROOT

_SCRIPT = """
import gc, sys, tracemalloc
tracemalloc.start(1)
from examples.leaks import zoo
from memhound.load.wsgi import WsgiDriver
driver = WsgiDriver(getattr(zoo, sys.argv[1]))
for _ in range(100):
    assert driver.drive("/").ok
gc.collect()
before = tracemalloc.get_traced_memory()[0]
n = int(sys.argv[2])
for _ in range(n):
    driver.drive("/")
gc.collect()
print((tracemalloc.get_traced_memory()[0] - before) / n)
"""


@functools.cache
def true_bytes_per_request(app: str, n: int = 300) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, app, str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.split()[-1])
