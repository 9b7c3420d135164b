"""Stacks as saved (file, line pairs, oldest first): the line of the program's own code."""

from __future__ import annotations

from collections.abc import Sequence

_LIBRARY_MARKERS = ("/lib/python3", "site-packages", "<frozen", "<string>")


def created_at(stack: Sequence[tuple[str, int]]) -> str:
    """The innermost frame of the program's own code (not the standard library or an
    installed package), and the innermost frame when that is elsewhere."""
    if not stack:
        return "an unknown place (created before tracing started)"
    inner = stack[-1]
    own = [f for f in stack if not any(m in f[0] for m in _LIBRARY_MARKERS)]
    if not own:
        return f"{inner[0]}:{inner[1]}"
    mine = own[-1]
    text = f"{mine[0]}:{mine[1]}"
    if mine != inner:
        text += f" (in {inner[0]}:{inner[1]})"
    return text
