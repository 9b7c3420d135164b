"""The format check every saved file of memhound's makes when it is read back."""

from __future__ import annotations

from typing import Any

from memhound.errors import RunFormatError


def check_format(
    d: dict[str, Any], *, name: str, version: int, what: str, where: str | None = None
) -> None:
    """``d`` (read from ``where``) carries ``"format": name`` and a version this memhound reads
    (older ones are read as they are; a newer one is refused, saying to upgrade)."""
    if d.get("format") != name:
        prefix = f"{where} is " if where else ""
        raise RunFormatError(f"{prefix}not a memhound {what} (format {d.get('format')!r})")
    if int(d.get("version", 0)) > version:
        prefix = f"{where}: " if where else ""
        raise RunFormatError(
            f"{prefix}{what} format version {d['version']} is newer than this memhound",
            hint="upgrade memhound to read it",
        )
