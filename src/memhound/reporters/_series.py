"""Small pure helpers shared by the reporters."""

from __future__ import annotations

from collections.abc import Sequence

from memhound.model.run import Run

BARS = "▁▂▃▄▅▆▇█"


def bucket_max(values: Sequence[float], width: int) -> list[float]:
    """Shrink ``values`` to at most ``width`` points, keeping each bucket's maximum (so a
    peak never disappears)."""
    n = len(values)
    if n <= width:
        return list(values)
    out = []
    for i in range(width):
        lo = i * n // width
        hi = max(lo + 1, (i + 1) * n // width)
        out.append(max(values[lo:hi]))
    return out


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """``▁▂▅█▅▂``: memory over time in one line, scaled from 0 to the maximum."""
    if not values:
        return ""
    points = bucket_max(values, width)
    top = max(points)
    if top <= 0:
        return BARS[0] * len(points)
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in points)


def command_text(run: Run) -> str:
    import shlex

    if run.meta.kind == "watch" and run.meta.target_pid is not None:
        return f"pid {run.meta.target_pid}: " + shlex.join(run.meta.command)
    if run.meta.kind == "watch":
        return "; ".join(run.meta.command)
    return shlex.join(run.meta.command)
