from __future__ import annotations

import pytest

from memhound.errors import UsageError
from memhound.units import format_bytes, format_duration, parse_bytes, parse_duration


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (464_748_134, "443.2 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (-2048, "-2.0 KiB"),
        (None, "n/a"),
    ],
)
def test_format_bytes(n: int | None, text: str) -> None:
    assert format_bytes(n) == text


def test_format_bytes_signed() -> None:
    assert format_bytes(1024, signed=True) == "+1.0 KiB"


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("24 MiB", 24 * 1024**2),
        ("24MiB", 24 * 1024**2),
        ("1.5G", int(1.5 * 1024**3)),
        ("100MB", 100_000_000),
        ("512k", 512 * 1024),
        ("1048576", 1048576),
        (4096, 4096),
    ],
)
def test_parse_bytes(text: str | int, n: int) -> None:
    assert parse_bytes(text) == n


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("1 MB", 1024**2),
        ("1 mb", 1024**2),
        ("2 KB", 2048),
        ("1.5 GB", int(1.5 * 1024**3)),
        ("1 PB", 1024**5),
        ("2 MiB", 2 * 1024**2),
        ("2M", 2 * 1024**2),
        ("100", 100),
    ],
)
def test_parse_bytes_kb_as_kib(text: str, n: int) -> None:
    """pytest-memray's reading, for the marker name both plugins know: KB/MB/GB are 1024-based."""
    assert parse_bytes(text, kb_as_kib=True) == n


@pytest.mark.parametrize("bad", ["", "lots", "12 parsecs", "-5MiB", -1, float("nan"), True])
def test_parse_bytes_rejects(bad: object) -> None:
    with pytest.raises(UsageError) as err:
        parse_bytes(bad)  # type: ignore[arg-type]
    assert "size" in str(err.value)


@pytest.mark.parametrize(
    ("text", "s"), [("50ms", 0.05), ("0.05", 0.05), ("2s", 2.0), ("5m", 300.0), ("1h", 3600.0)]
)
def test_parse_duration(text: str, s: float) -> None:
    assert parse_duration(text) == pytest.approx(s)


@pytest.mark.parametrize("bad", ["fast", "-1s", "10 fortnights", "inf"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(bad)


def test_format_duration() -> None:
    assert format_duration(0.0504) == "50ms"
    assert format_duration(7.25) == "7.2s"
    assert format_duration(75.3) == "1m15.3s"
    assert format_duration(3725) == "1h02m05s"
    assert format_duration(None) == "n/a"
