"""memhound's markers on ``unittest.TestCase`` methods and classes (pytest runs those through
unittest, not through ``pytest_pyfunc_call``): real allocations, sockets, threads and files in
a pytest subprocess."""

from __future__ import annotations

import pytest

from tests.integration.test_pytest_plugin import line_of, run


def test_markers_on_testcase_methods(pytester: pytest.Pytester) -> None:
    res = run(
        pytester,
        """
        import socket, threading, unittest
        import pytest

        KEEP = []

        class Order:
            def __init__(self, n):
                self.n = n

        class TestMemory(unittest.TestCase):
            @pytest.mark.memhound_limit_memory("1 KB")
            def test_too_much(self):
                KEEP.append(bytearray(5 << 20))

            @pytest.mark.memhound_limit_memory("64 MiB")
            def test_within(self):
                data = bytearray(5 << 20)
                del data

            @pytest.mark.no_leaks(iterations=30, warmup=5)
            def test_leaky(self):
                KEEP.append(Order(len(KEEP)))

            @pytest.mark.no_leaks(iterations=30, warmup=5)
            def test_temporaries(self):
                data = [Order(i) for i in range(2000)]
                self.assertEqual(len(data), 2000)

        class TestResources(unittest.TestCase):
            def setUp(self):
                self.log = open(__file__)  # opened by setUp, closed by tearDown: not a leak

            def tearDown(self):
                self.log.close()
                if hasattr(self, "conn"):
                    self.conn.close()

            @pytest.mark.no_resource_leaks
            def test_leaks_a_socket(self):
                server = socket.socket()
                server.bind(("127.0.0.1", 0))
                server.listen()
                KEEP.append(server)

            @pytest.mark.no_resource_leaks
            def test_closed_by_a_cleanup(self):
                s = socket.socket()
                self.addCleanup(s.close)
                s.bind(("127.0.0.1", 0))

            @pytest.mark.no_resource_leaks
            def test_closed_by_teardown(self):
                self.conn = socket.socket()

            @pytest.mark.no_resource_leaks
            def test_raises(self):
                raise ValueError("no database")

            @pytest.mark.no_resource_leaks
            def test_skips(self):
                self.skipTest("not here")

        @pytest.mark.no_resource_leaks
        class TestWholeClass(unittest.TestCase):
            def test_leaks_a_thread(self):
                stop = threading.Event()
                KEEP.append(stop)
                threading.Thread(target=stop.wait, name="poller", daemon=True).start()

            def test_clean(self):
                pass

        class TestAsync(unittest.IsolatedAsyncioTestCase):
            @pytest.mark.no_leaks(iterations=5, warmup=0)
            async def test_async(self):
                pass

        def test_zzz_cleanup():
            for obj in KEEP:
                getattr(obj, "close", getattr(obj, "set", lambda: None))()
        """,
    )
    out = res.stdout.str()
    res.assert_outcomes(passed=6, failed=6, skipped=1)
    assert "memory limit exceeded: test_too_much allocated 5.0 MiB at its peak" in out
    assert f"blocks at test_it.py:{line_of(pytester, 'KEEP.append(bytearray')}" in out
    assert "test_within allocated" not in out
    assert "memory leak: test_leaky retained" in out
    assert f"at test_it.py:{line_of(pytester, 'KEEP.append(Order(')}" in out
    assert "+1.0 test_it.Order" in out
    assert "test_temporaries retained" not in out
    assert "resource leak: test_leaks_a_socket left 1 resource open" in out
    assert "(LISTEN)" in out
    assert f"created at test_it.py:{line_of(pytester, 'server = socket.socket()')}" in out
    assert "test_closed_by_a_cleanup left" not in out
    assert "test_closed_by_teardown left" not in out
    line = line_of(pytester, 'name="poller"')
    assert f"thread 'poller' (daemon, target Event.wait), created at test_it.py:{line}" in out
    assert "test_clean left" not in out
    assert "ValueError: no database" in out and "test_raises left" not in out
    assert "memhound cannot check an async test (no_leaks): unittest runs it" in out


def test_limit_memory_on_testcase_without_memray(pytester: pytest.Pytester) -> None:
    """The issue's case: ``limit_memory("1 KB")`` on a TestCase method allocating 5 MB."""
    res = run(
        pytester,
        """
        import unittest
        import pytest

        class TestIt(unittest.TestCase):
            @pytest.mark.limit_memory("1 KB")
            def test_big(self):
                self.data = bytearray(5_000_000)
        """,
        "-p",
        "no:memray",
    )
    res.assert_outcomes(failed=1)
    assert (
        "memory limit exceeded: test_big allocated 4.8 MiB at its peak, over its limit of "
        "1.0 KiB (limit_memory('1 KB') = 1,024 B;" in res.stdout.str()
    )
