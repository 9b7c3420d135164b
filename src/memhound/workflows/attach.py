"""Heap snapshots of running processes: ``memhound snapshot --pid PID``.

A process that runs memhound's agent with a snapshot signal (``memhound run
--snapshot-on-signal``) is sent that signal and writes the snapshot itself. Any other CPython
process gets the snapshot code injected: with ``sys.remote_exec`` where memhound runs on
Python 3.14 or newer, else through gdb (or lldb, where gdb is missing or cannot call
functions: gdb 13 on a CPU with AMX) calling into the interpreter under the GIL (as
``memray attach`` does). The target must be able to import memhound and numpy (memhound's
folder is added to its ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memhound.agent import contract
from memhound.errors import (
    AccessDenied,
    MemhoundError,
    PlatformNotSupported,
    ProcessNotFound,
    UsageError,
)
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


def snapshot_pid(
    pid: int, output: Path | None, *, timeout_s: float = 120.0, redact_strings: bool = False
) -> Path:
    """Have process ``pid`` (or the Python process it launched) write a heap snapshot;
    returns the file. The target keeps running. With ``redact_strings``, the text of
    strings and bytes is written as lengths only; an agent started without that cannot be
    asked for it afterwards, which is an error rather than a snapshot full of secrets."""
    target = find_python(pid)
    env = _environ(target)
    # memhound run writes the signal's number (it used to write its name), memhound soak
    # --serve a real-time signal's number: read both, as the agent does.
    signum = contract.parse_signal(env.get(contract.ENV_SNAPSHOT_SIGNAL))
    directory = env.get(contract.ENV_SNAPSHOT_DIR)
    if signum and directory:
        if redact_strings and env.get(contract.ENV_SNAPSHOT_REDACT) != "1":
            raise UsageError(
                f"pid {target} takes its snapshots through memhound's agent, which was started "
                "without --redact-strings: it would write every string in full",
                hint="start it with `memhound run --redact-strings --snapshot-on-signal ...`, "
                "or leave out --redact-strings",
            )
        return _by_signal(target, Path(directory), signum, output, timeout_s)
    out = (output or Path(f"{target}-{time.strftime('%Y%m%d-%H%M%S')}.heapsnapshot")).resolve()
    code = (
        "import sys\n"
        f"p = {str(SRC_DIR)!r}\n"
        "if p not in sys.path:\n    sys.path.append(p)\n"
        "from memhound.heap.writer import snapshot\n"
        f"snapshot({str(out)!r}, redact_strings={redact_strings!r})\n"
    )
    if hasattr(sys, "remote_exec"):
        _by_remote_exec(target, code)
    else:
        _by_debugger(target, code)
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


def _by_signal(
    target: int, directory: Path, signum: int, output: Path | None, timeout_s: float
) -> Path:
    before = set(directory.glob(f"{target}-*-signal.heapsnapshot"))
    os.kill(target, signum)
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


def _by_debugger(target: int, code: str) -> None:
    """Run ``code`` in ``target`` under the GIL through gdb or, where gdb is missing or
    cannot call functions there, lldb."""
    script = f"exec(bytes.fromhex('{code.encode().hex()}').decode())"
    gdb, lldb = shutil.which("gdb"), _find_lldb()
    if gdb is None and lldb is None:
        raise PlatformNotSupported(
            f"pid {target} runs no memhound agent, and neither gdb nor lldb is installed to "
            "inject one",
            hint="apt-get install gdb (or lldb), or start the program under "
            "`memhound run --snapshot-on-signal`",
        )
    failure = ""
    if gdb is not None:
        broken = _gdb_cannot_call(gdb)
        if broken:
            failure = broken
        else:
            failure = _by_gdb(gdb, target, script)
            if not failure:
                return
    if lldb is not None:
        why = _by_lldb(lldb, target, script)
        if not why:
            return
        failure = f"{failure}; {why}" if failure else why
    raise MemhoundError(
        f"could not run code in pid {target}: {failure}",
        hint="the interpreter needs its symbols (PyRun_SimpleString); gdb before 14 cannot "
        "call functions on CPUs with AMX (install lldb); or start the program under "
        "`memhound run --snapshot-on-signal`",
    )


def _gdb_cannot_call(gdb: str) -> str:
    """Why this gdb must not call functions in a process here, or empty. gdb before 14 sizes
    the XSAVE area from a fixed table; on a CPU with AMX its register write-back fails
    ("Couldn't write extended state status: Bad address") after the call has begun, and the
    program is left stuck on the GIL's futex (seen with Debian's gdb 13.1)."""
    try:
        res = subprocess.run([gdb, "--version"], capture_output=True, text=True, timeout=30)
        m = re.search(r"(\d+)\.\d+", res.stdout.splitlines()[0] if res.stdout else "")
        major = int(m.group(1)) if m else 0
    except (OSError, subprocess.SubprocessError, ValueError):
        return "gdb: it does not run"
    if major >= 14:
        return ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            amx = any(line.startswith("flags") and " amx_tile" in line for line in fh)
    except OSError:
        amx = False
    return f"gdb {major} cannot call functions on this CPU (it has AMX)" if amx else ""


def _find_lldb() -> str | None:
    """``lldb``, or Debian's versioned ``lldb-N`` (the newest)."""
    found = shutil.which("lldb")
    if found:
        return found
    versions = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder or "."):
                suffix = entry.name.removeprefix("lldb-")
                if entry.name.startswith("lldb-") and suffix.isdigit():
                    versions.append((int(suffix), entry.path))
    return max(versions)[1] if versions else None


def _by_gdb(gdb: str, target: int, script: str) -> str:
    """Empty when the code ran, else why it did not run (a gdb that cannot call functions
    here is not used: :func:`_gdb_cannot_call`)."""
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
    return _call(argv, target, "gdb", ok=r"^\$2 = 0$", ran=r"^\$2 = ")


def _by_lldb(lldb: str, target: int, script: str) -> str:
    """Empty when the code ran, else why it did not run. The calls name their signatures:
    without debug information lldb knows no prototypes."""
    argv = [
        lldb,
        "-p",
        str(target),
        "--batch",
        "--no-lldbinit",
        "-o",
        "expr ((int(*)(void))PyGILState_Ensure)()",
        "-o",
        f'expr ((int(*)(const char*))PyRun_SimpleString)("{script}")',
        "-o",
        "expr ((void(*)(int))PyGILState_Release)($0)",
    ]
    return _call(argv, target, "lldb", ok=r"^\(int\) \$1 = 0$", ran=r"^\(int\) \$1 = ")


def _call(argv: list[str], target: int, tool: str, *, ok: str, ran: str) -> str:
    """Run the debugger; empty when the code ran, else why it did not run. ``ok`` and
    ``ran`` match its line for PyRun_SimpleString's result: 0, or any (the code ran and
    raised: it is not run again by another debugger)."""
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    text = res.stdout + res.stderr
    if "Operation not permitted" in text:
        raise AccessDenied(
            f"{tool} may not attach to pid {target} (ptrace not permitted)",
            hint="run as the process's user with kernel.yama.ptrace_scope=0, or as root",
        )
    if re.search(ok, text, re.M):
        return ""
    errors = [line for line in text.splitlines() if "error" in line.lower()]
    tail = f"{tool}: " + " | ".join((errors or text.strip().splitlines()[-3:])[:3])
    if re.search(ran, text, re.M):
        raise MemhoundError(
            f"the snapshot code failed in pid {target} ({tail})",
            hint="its interpreter must be able to import memhound's dependencies (numpy); "
            "run it under `memhound run --snapshot-on-signal` instead",
        )
    return tail
