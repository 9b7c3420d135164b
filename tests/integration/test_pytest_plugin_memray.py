"""memhound's pytest plugin beside pytest-memray (installed with the test extras): both know
a marker named ``limit_memory``. Real pytest runs in a subprocess, pytest-memray loaded."""

from __future__ import annotations

import pytest

from tests.integration.test_pytest_plugin import line_of, run

BOTH = """
    import unittest
    import pytest

    KEEP = []

    @pytest.mark.limit_memory("2 MiB")  # memhound's spelling: pytest-memray cannot read it
    def test_memhound_spelling_under_shared_name():
        data = bytearray(1000)

    @pytest.mark.memhound_limit_memory("2 MiB")
    def test_keeps_too_much():
        KEEP.append(bytearray(5 << 20))

    @pytest.mark.memhound_limit_memory("8 MiB")
    def test_within_memhound_limit():
        data = bytearray(5 << 20)
        del data

    @pytest.mark.limit_memory("1 MB")  # pytest-memray's: 1 MiB of whatever memray sees
    def test_over_memray_limit():
        data = bytearray(3 << 20)
        del data

    @pytest.mark.limit_memory("4 MB")
    def test_within_memray_limit():
        data = bytearray(1 << 20)
        del data

    class TestCaseStyle(unittest.TestCase):
        @pytest.mark.limit_memory("1 KB")  # pytest-memray does not look at TestCase methods
        def test_unittest_with_shared_name(self):
            KEEP.append(bytearray(5 << 20))

    def test_plain():
        pass
"""


@pytest.mark.parametrize("flag", [(), ("--memray",)], ids=["installed", "--memray"])
def test_both_plugins_coexist(pytester: pytest.Pytester, flag: tuple[str, ...]) -> None:
    """The session runs to its end; each marker is checked by one plugin, or fails saying
    what to write instead."""
    res = run(pytester, BOTH, *flag)
    out = res.stdout.str() + res.stderr.str()
    assert "INTERNALERROR" not in out, out
    # memhound's marker: memhound's check, measuring the test and not memray's tracker
    assert (
        "memory limit exceeded: test_keeps_too_much allocated 5.0 MiB at its peak, over its "
        "limit of 2.0 MiB (memhound_limit_memory('2 MiB') = 2,097,152 B;" in out
    )
    assert f"blocks at test_it.py:{line_of(pytester, 'KEEP.append(bytearray(5 << 20))')}" in out
    # limit_memory is pytest-memray's: its message, its units; memhound stays out of it
    assert "Test was limited to 1.0MiB but allocated 3.0MiB" in out
    assert "test_over_memray_limit allocated" not in out
    # what neither could check fails loudly, saying what to write
    assert (
        "memhound: limit_memory('2 MiB') is pytest-memray's marker while pytest-memray is "
        "installed, and pytest-memray cannot read '2 MiB'" in out
    )
    assert "write @pytest.mark.memhound_limit_memory('2 MiB'); for pytest-memray's, " in out
    assert "limit_memory('2 MB')" in out
    assert "limit_memory on a unittest.TestCase test is pytest-memray's marker" in out
    assert (
        "memhound: 4 tests marked limit_memory: with pytest-memray installed that marker is "
        "pytest-memray's" in out
    )
    res.assert_outcomes(passed=3, failed=2, errors=2)


def test_without_memray_limit_memory_is_memhounds(pytester: pytest.Pytester) -> None:
    """With pytest-memray disabled, memhound takes ``limit_memory``, reading KB/MB/GB as
    pytest-memray does (1024-based), so the same line means the same limit whichever plugin
    reads it; ``memhound_limit_memory`` keeps memhound's units (MB = 10^6 B)."""
    res = run(
        pytester,
        """
        import pytest

        KEEP = []

        @pytest.mark.limit_memory("1 MB")
        def test_shared_name_mb_is_mib():
            KEEP.append(bytearray(1_020_000))

        @pytest.mark.memhound_limit_memory("1 MB")
        def test_own_name_mb_is_decimal():
            KEEP.append(bytearray(1_020_000))

        @pytest.mark.limit_memory("2 MiB")
        def test_shared_name_mib():
            KEEP.append(bytearray(3 << 20))
        """,
        "-p",
        "no:memray",
    )
    out = res.stdout.str()
    res.assert_outcomes(passed=1, failed=2)
    assert "test_shared_name_mb_is_mib allocated" not in out
    assert "over its limit of 976.6 KiB (memhound_limit_memory('1 MB') = 1,000,000 B;" in out
    assert "over its limit of 2.0 MiB (limit_memory('2 MiB') = 2,097,152 B;" in out
    assert "marked limit_memory" not in out  # no notice without pytest-memray


@pytest.mark.parametrize(
    "size",
    ["2 MiB", "2 MB", "2mb", "1.5 GB", "512 KB", "100 B", "+3 TB", ".5 PB", "2M", "1048576"],
)
def test_memray_reading_matches_pytest_memray(size: str) -> None:
    """memhound's copy of pytest-memray's rule agrees with pytest-memray's own parser."""
    from pytest_memray.utils import parse_memory_string

    from memhound.pytest_plugin.plugin import _memray_cannot_read

    try:
        parse_memory_string(size)
        theirs = True
    except ValueError:
        theirs = False
    ours = _memray_cannot_read(pytest.mark.limit_memory(size).mark) is None
    assert ours == theirs


def test_memray_reading_of_arguments() -> None:
    from memhound.pytest_plugin.plugin import _memray_cannot_read as read

    assert read(pytest.mark.limit_memory("2 MB", current_thread_only=True).mark) is None
    assert read(pytest.mark.limit_memory(limit="2 MB").mark) is None
    assert read(pytest.mark.limit_memory(size="2 MB").mark) is not None
    assert read(pytest.mark.limit_memory(2 << 20).mark) is not None
    assert read(pytest.mark.limit_memory().mark) is not None
