"""CPython 3.12.0-3.12.4 (gh-122695): gc.get_referents() on the _asyncio module frees its
dead future iterators a second time, and the next gc.collect() never returns. memhound's heap
walkers and the profiler's retained-by-type walk must leave that module's traverse alone, or
snapshotting an asyncio program would hang it. On other versions these tests pass trivially."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memhound._platform import _asyncio_traverse_is_unsafe

PROGRAM = textwrap.dedent(
    """
    import asyncio, gc, sys
    import memhound

    async def main():
        loop = asyncio.get_running_loop()
        for _ in range(50):  # each awaited future leaves a dead iterator on _asyncio's free list
            fut = loop.create_future()
            loop.call_soon(fut.set_result, 1)
            await fut

    asyncio.run(main())
    if sys.argv[1] == "snapshot":
        memhound.snapshot(sys.argv[2], collect=False)
    else:
        with memhound.profile() as p:
            asyncio.run(main())
        assert p.report.data.retained_count >= 0
    gc.collect()  # hangs when the free list was corrupted
    asyncio.run(main())
    gc.collect()
    print("alive")
    """
)


@pytest.mark.parametrize("how", ["snapshot-native", "snapshot-python", "profile"])
def test_an_asyncio_program_survives_a_snapshot_and_a_profile(tmp_path: Path, how: str) -> None:
    script = tmp_path / "aio.py"
    script.write_text(PROGRAM)
    env = {**os.environ}
    if how == "snapshot-python":
        env["MEMHOUND_NO_NATIVE"] = "1"
    mode = "snapshot" if how.startswith("snapshot") else "profile"
    res = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(script), mode, str(tmp_path / "a.heapsnapshot")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert res.returncode == 0 and res.stdout.strip() == "alive", res.stderr[-2000:]


def test_the_affected_versions() -> None:
    assert _asyncio_traverse_is_unsafe((3, 12, 0, "final", 0))
    assert _asyncio_traverse_is_unsafe((3, 12, 4, "final", 0))
    assert not _asyncio_traverse_is_unsafe((3, 12, 5, "final", 0))
    assert _asyncio_traverse_is_unsafe((3, 13, 0, "candidate", 1))
    assert not _asyncio_traverse_is_unsafe((3, 13, 0, "final", 0))
    assert not _asyncio_traverse_is_unsafe((3, 11, 7, "final", 0))
