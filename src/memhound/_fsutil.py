"""Private, atomic file writes: what we write may hold the program's strings."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

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


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and rename, mode 0600.

    A reader sees the old file or the new one, never half of either.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write {str(path)!r}: {exc.strerror or exc}",
            hint="choose another place with -o, or fix the directory's permissions",
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_private_append(path: Path) -> int:
    """Open ``path`` for appending, creating it 0600; returns a raw fd."""
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write {str(path)!r}: {exc.strerror or exc}",
            hint="choose another place with -o, or fix the directory's permissions",
        ) from exc
