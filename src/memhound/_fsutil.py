"""Private, atomic file writes: what we write may hold the program's strings."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from memhound.errors import OutputNotWritable

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with the new leaf owner-only; explain failures."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot create the output directory {str(path)!r}: {exc.strerror or exc}",
            hint="choose another place with -o DIR, or fix the directory's permissions",
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputNotWritable(
            f"the output directory {str(path)!r} is not writable",
            hint="choose another place with -o DIR, or fix the directory's permissions",
        )
    return path


@contextmanager
def atomic_private_file(
    path: Path,
    *,
    buffering: int = -1,
    hint: str = "choose another place with -o, or fix the directory's permissions",
) -> Iterator[IO[bytes]]:
    """A new binary file beside ``path``, mode 0600, renamed over ``path`` when the block
    succeeds (after an fsync) and removed when it fails.

    A reader sees the old file or the new one, never half of either. An ``OSError`` (a full
    disk, a quota) becomes ``OutputNotWritable`` and leaves nothing behind; ``hint`` is what
    to tell the user when the file cannot be created at all.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write {str(path)!r}: {exc.strerror or exc}", hint=hint
        ) from exc
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "wb", buffering=buffering) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputNotWritable(
                f"cannot write {str(path)!r}: {exc.strerror or exc}",
                hint="free some space or choose another path; the partial file was removed",
            ) from exc
        raise


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through ``atomic_private_file``."""
    with atomic_private_file(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def open_private_append(path: Path) -> int:
    """Open ``path`` for appending, creating it 0600; returns a raw fd."""
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write {str(path)!r}: {exc.strerror or exc}",
            hint="choose another place with -o, or fix the directory's permissions",
        ) from exc


class FdReserve:
    """A few descriptors held open while a program in this process runs, and given back
    whenever memhound needs to open something itself.

    A program that leaks sockets or files in memhound's own process (``soak --wsgi``, a
    pytest check) ends with every descriptor of ``RLIMIT_NOFILE`` taken; memhound must still
    read ``/proc``, list the fds and write its run. With the program's work paused,
    ``room()`` closes the reserve (the kernel hands those numbers to the next ``open``), and
    takes them again afterwards; ``release()`` gives them back for good. The program can use
    ``count`` descriptors fewer than its limit while the reserve is held."""

    def __init__(self, count: int = 16) -> None:
        self.count = count
        self._fds: list[int] = []
        self.fill()

    @property
    def held(self) -> int:
        return len(self._fds)

    def fill(self) -> None:
        """Take descriptors back up to ``count`` (as many as are free)."""
        while len(self._fds) < self.count:
            try:
                self._fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                return

    def release(self) -> None:
        while self._fds:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop())

    def room(self) -> FdReserve:
        """Within (``with reserve.room():``): the reserve is free for memhound's own files.
        The reserve is its own context manager: no new object per use, so none shows up in
        a heap snapshot taken within as something the program made."""
        return self

    def __enter__(self) -> None:
        self.release()

    def __exit__(self, *_: object) -> None:
        self.fill()
