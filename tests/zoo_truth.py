"""The heap a zoo app retains per request on the Python running the tests, measured in a fresh
process by ``examples/leaks/truth.py`` (the accuracy benchmark's method)."""

from __future__ import annotations

import functools
import subprocess
import sys

from tests.conftest import ROOT


@functools.cache
def true_bytes_per_request(app: str, n: int = 300) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "examples.leaks.truth", app, str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.split()[-1])
