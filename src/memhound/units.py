"""Byte sizes and durations: parsing what users type, formatting what we print.

Binary units throughout (KiB = 1024 B). Every figure we print names its unit.
"""

from __future__ import annotations

import math
import re

from memhound.errors import UsageError

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

_SIZE_FACTORS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
    "p": 1024**5,
    "pb": 1000**5,
    "pib": 1024**5,
}
# The suffixes that pytest-memray reads as 1024-based and memhound as 1000-based.
_DECIMAL = frozenset({"kb", "mb", "gb", "tb", "pb"})

_MAX_SIZE = float(1 << 60)  # 1 EiB: above it, a typing mistake (or an overflow)
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(ms|s|m|h|min)?\s*$", re.I)


def format_bytes(n: float | None, *, signed: bool = False) -> str:
    """``format_bytes(464_748_134) == '443.2 MiB'``; ``None`` prints as ``'n/a'``."""
    if n is None:
        return "n/a"
    sign = ""
    if n < 0:
        sign = "-"
        n = -n
    elif signed:
        sign = "+"
    value = float(n)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{sign}{int(value)} B"
    return f"{sign}{value:.1f} {_UNITS[unit]}"


def parse_bytes(text: str | int | float, *, kb_as_kib: bool = False) -> int:
    """Parse ``'24 MiB'``, ``'1.5G'``, ``'100MB'`` or a plain number of bytes.

    A bare ``K``/``M``/``G`` is binary (as ``ulimit`` and ``docker --memory`` read it);
    ``KB``/``MB``/``GB`` are decimal, unless ``kb_as_kib``: then they are 1024-based too, as
    pytest-memray reads them (for the ``limit_memory`` marker name both plugins use).
    """
    if isinstance(text, bool):
        raise UsageError(f"not a size: {text!r}")
    if isinstance(text, int | float):
        if text < 0 or not math.isfinite(text):
            raise UsageError(f"a size must be a finite number >= 0, got {text!r}")
        return int(text)
    m = _SIZE_RE.match(text)
    if not m or m.group(2).lower() not in _SIZE_FACTORS:
        raise UsageError(
            f"not a size: {text!r}", hint="write it like '512MiB', '2G', '1.5 GiB' or '1048576'"
        )
    unit = m.group(2).lower()
    if kb_as_kib and unit in _DECIMAL:
        unit = unit[0] + "ib"
    value = float(m.group(1)) * _SIZE_FACTORS[unit]
    if not value < _MAX_SIZE:
        raise UsageError(
            f"{text!r} is more bytes than any machine has (the limit is 1 EiB)",
            hint="write it like '512MiB', '2G', '1.5 GiB' or '1048576'",
        )
    return int(value)


def parse_duration(text: str | int | float) -> float:
    """Parse ``'50ms'``, ``'2s'``, ``'5m'``, ``'1h'`` or a plain number of seconds."""
    if isinstance(text, bool):
        raise UsageError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _DURATION_RE.match(text)
        if not m:
            raise UsageError(
                f"not a duration: {text!r}", hint="write it like '50ms', '0.05', '2s' or '5m'"
            )
        factor = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}[
            (m.group(2) or "s").lower()
        ]
        value = float(m.group(1)) * factor
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"a duration must be a finite number >= 0, got {text!r}")
    return value


def format_duration(seconds: float | None) -> str:
    """``format_duration(75.3) == '1m15.3s'``; sub-second values in ms."""
    if seconds is None:
        return "n/a"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{sec:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m{int(sec):02d}s"
