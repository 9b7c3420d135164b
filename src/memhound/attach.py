"""Heap snapshots of running processes: ``memhound snapshot --pid PID``.

A process that runs memhound's agent with a snapshot signal (``memhound run
--snapshot-on-signal``) is sent that signal and writes the snapshot itself. Any other CPython
process gets the snapshot code injected: with ``sys.remote_exec`` where memhound runs on
Python 3.14 or newer, else through gdb calling into the interpreter under the GIL (as
``memray attach`` does). The target must be able to import memhound and numpy (memhound's
folder is added to its ``sys.path``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memhound.errors import AccessDenied, MemhoundError, PlatformNotSupported, ProcessNotFound
from memhound.probes import process as proc

SRC_DIR = Path(__file__).resolve().parent.parent


def find_python(pid: int) -> int:
    """``pid`` itself when it runs CPython, else the first CPython process in its tree (a
    shell or a pyenv shim launches the real interpreter as a child)."""
    for candidate in proc.tree(pid):
        try:
            exe = os.path.basename(os.readlink(f"/proc/{candidate}/exe"))
        except FileNotFoundError:
            continue
        except PermissionError as exc:
            raise AccessDenied(
                f"not allowed to inspect pid {candidate}",
                hint="run memhound as the same user as the process, or as root",
            ) from exc
        if exe.startswith("python"):
            return candidate
    proc.read_status(pid)  # a clear ProcessNotFound when the pid is gone
    raise ProcessNotFound(
        f"no Python process in the tree of pid {pid}",
        hint="give the pid of the Python program (or of the shell that started it)",
    )


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def snapshot_pid(pid: int, output: Path | None, *, timeout_s: float = 120.0) -> Path:
    """Have process ``pid`` (or the Python process it launched) write a heap snapshot;
    returns the file. The target keeps running."""
    target = find_python(pid)
    env = _environ(target)
    if env.get("MEMHOUND_SNAPSHOT_SIGNAL") and env.get("MEMHOUND_SNAPSHOT_DIR"):
        return _by_signal(target, env, output, timeout_s)
    out = (output or Path(f"{target}-{time.strftime('%Y%m%d-%H%M%S')}.heapsnapshot")).resolve()
    code = (
        "import sys\n"
        f"p = {str(SRC_DIR)!r}\n"
        "if p not in sys.path:\n    sys.path.append(p)\n"
        "from memhound.heap.writer import snapshot\n"
        f"snapshot({str(out)!r})\n"
    )
    if hasattr(sys, "remote_exec"):
        _by_remote_exec(target, code)
    else:
        _by_gdb(target, code)
    deadline = time.monotonic() + timeout_s
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not out.exists():
        raise MemhoundError(
            f"pid {target} did not write {out}",
            hint="its interpreter must be able to import memhound's dependencies (numpy); "
            "run it under `memhound run --snapshot-on-signal` instead",
        )
    return out


def _by_signal(target: int, env: dict[str, str], output: Path | None, timeout_s: float) -> Path:
    directory = Path(env["MEMHOUND_SNAPSHOT_DIR"])
    before = set(directory.glob(f"{target}-*-signal.heapsnapshot"))
    os.kill(target, getattr(signal, env["MEMHOUND_SNAPSHOT_SIGNAL"]))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = set(directory.glob(f"{target}-*-signal.heapsnapshot")) - before
        if new:
            path = max(new, key=lambda p: p.stat().st_mtime)
            if output is not None:
                shutil.move(str(path), output)
                return output
            return path
        try:
            proc.read_status(target)
        except ProcessNotFound as exc:
            raise ProcessNotFound(f"pid {target} exited before writing its snapshot") from exc
        time.sleep(0.1)
    raise MemhoundError(
        f"pid {target} wrote no snapshot within {timeout_s:.0f}s",
        hint="a big heap takes longer: raise --timeout",
    )


def _by_remote_exec(target: int, code: str) -> None:  # pragma: no cover - Python 3.14+
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(code)
    os.chmod(fh.name, 0o644)
    sys.remote_exec(target, fh.name)  # type: ignore[attr-defined]


def _by_gdb(target: int, code: str) -> None:
    gdb = shutil.which("gdb")
    if gdb is None:
        raise PlatformNotSupported(
            f"pid {target} runs no memhound agent, and gdb is not installed to inject one",
            hint="apt-get install gdb, or start the program under "
            "`memhound run --snapshot-on-signal`",
        )
    script = f"exec(bytes.fromhex('{code.encode().hex()}').decode())"
    argv = [
        gdb,
        "-p",
        str(target),
        "-batch",
        "-nx",
        "-ex",
        "call (int)PyGILState_Ensure()",
        "-ex",
        f'call (int)PyRun_SimpleString("{script}")',
        "-ex",
        "call (void)PyGILState_Release($1)",
    ]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    text = res.stdout + res.stderr
    if "ptrace: Operation not permitted" in text:
        raise AccessDenied(
            f"gdb may not attach to pid {target} (ptrace not permitted)",
            hint="run as the process's user with kernel.yama.ptrace_scope=0, or as root",
        )
    if res.returncode != 0 or "No symbol" in text:
        tail = " | ".join(text.strip().splitlines()[-3:])
        raise MemhoundError(
            f"gdb could not run code in pid {target}: {tail}",
            hint="the interpreter needs its symbols (PyRun_SimpleString); or start the program "
            "under `memhound run --snapshot-on-signal`",
        )
