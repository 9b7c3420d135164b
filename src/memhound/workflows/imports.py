"""``memhound imports``: what importing each module costs, measured in a fresh interpreter.

The probe (``agent/_boot/_memhound_imports.py``, standard library only) runs the target
twice: once plain, for wall time and RSS, and once with tracemalloc, for the Python heap
(tracemalloc makes imports 3-5x slower, so its times are not used).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from memhound.agent import BOOT_DIR, contract
from memhound.analysis.imports import build_report
from memhound.errors import UsageError
from memhound.model.imports import IMPORTS_FILE, ImportReport
from memhound.model.run import Run
from memhound.model.timeline import Timeline

PROBE = BOOT_DIR / "_memhound_imports.py"


@dataclass(frozen=True)
class ImportTarget:
    """What to import: ``module`` (import it), ``script`` (run it), ``modules`` (several)."""

    kind: str
    args: tuple[str, ...]

    def probe_args(self) -> list[str]:
        if self.kind == "module":
            return ["-m", *self.args]
        if self.kind == "modules":
            return ["--modules", *self.args]
        return list(self.args)

    def label(self) -> tuple[str, ...]:
        if self.kind == "module":
            return ("-m", *self.args)
        if self.kind == "modules":
            return ("--requirements", *self.args)
        return self.args


def _run_probe(target: ImportTarget, python: str, trace: bool, timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memhound-imports-") as tmp:
        out = os.path.join(tmp, "probe.json")
        argv = [python, str(PROBE), out, *(["--trace"] if trace else []), *target.probe_args()]
        env = dict(os.environ)
        env.pop(contract.ENV_SOCKET, None)  # measure the target, not our agent
        try:
            proc = subprocess.run(
                argv,
                env=env,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        except FileNotFoundError as exc:
            raise UsageError(
                f"cannot run the interpreter {python!r}", hint="give a Python with --python"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise UsageError(
                f"the import run took longer than {timeout_s:.0f}s",
                hint="raise --timeout, or import less (a script may wait for input)",
            ) from exc
        try:
            with open(out, encoding="utf-8") as fh:
                data: dict[str, Any] = json.load(fh)
        except (OSError, ValueError) as exc:
            tail = proc.stderr.strip().splitlines()[-3:]
            raise UsageError(
                f"the import probe did not finish (exit {proc.returncode}): "
                + (" | ".join(tail) or "no output"),
                hint="check that the target runs with this interpreter",
            ) from exc
        return data


def measure_imports(
    target: ImportTarget,
    *,
    python: str | None = None,
    trace: bool = True,
    timeout_s: float = 600.0,
) -> ImportReport:
    """Import ``target`` in a fresh interpreter and return the cost tree."""
    python = python or sys.executable
    if target.kind == "script" and not Path(target.args[0]).is_file():
        raise UsageError(
            f"script not found: {target.args[0]!r}", hint="give a path to a .py file, or -m MODULE"
        )
    timed = _run_probe(target, python, False, timeout_s)
    traced = _run_probe(target, python, True, timeout_s) if trace else None
    report = build_report(target.label(), timed, traced)
    if target.kind == "module" and not report.ok and not report.nodes:
        raise UsageError(
            f"cannot import {target.args[0]!r}: {report.error}",
            hint="check the module name and that it is installed for this interpreter",
        )
    return report


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")

_TOP_LEVEL_SNIPPET = r"""
import json, sys
from importlib import metadata
out = {}
for name in sys.argv[1:]:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        out[name] = None
        continue
    tops = (dist.read_text("top_level.txt") or "").split()
    if not tops:
        seen = set()
        for f in dist.files or ():
            parts = f.parts
            if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")):
                continue
            if parts[0] in ("__pycache__", "..") or parts[0].startswith("."):
                continue
            if len(parts) == 1:
                if parts[0].endswith(".py"):
                    seen.add(parts[0][:-3])
            elif parts[-1] == "__init__.py" and len(parts) == 2:
                seen.add(parts[0])
        tops = sorted(seen)
    out[name] = [t for t in tops if t.isidentifier() and not t.startswith("_")]
print(json.dumps(out))
"""


def requirement_names(project_dir: Path) -> list[str]:
    """Distribution names the project depends on: ``pyproject.toml``'s
    ``[project].dependencies``, else ``requirements.txt``."""
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        deps = _pyproject_dependencies(pyproject.read_text(encoding="utf-8"))
        if deps is not None:
            return deps
    req = project_dir / "requirements.txt"
    if req.is_file():
        names = []
        for line in req.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            m = _REQ_NAME.match(line)
            if m:
                names.append(m.group(1))
        return names
    raise UsageError(
        f"no pyproject.toml with [project] dependencies and no requirements.txt in {project_dir}",
        hint="run it in the project's folder, or name modules with -m",
    )


def _pyproject_dependencies(text: str) -> list[str] | None:
    deps: list[str] | None
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            deps = tomllib.loads(text).get("project", {}).get("dependencies")
        except ValueError as exc:
            raise UsageError(f"cannot read pyproject.toml: {exc}") from exc
    else:  # Python 3.10 has no TOML reader: take the one list we need
        m = re.search(r"(?ms)^\[project\].*?^dependencies\s*=\s*\[(.*?)\]", text)
        deps = re.findall(r"[\"']([^\"']+)[\"']", m.group(1)) if m else None
    if deps is None:
        return None
    return [m.group(1) for d in deps if (m := _REQ_NAME.match(d))]


def requirement_modules(names: list[str], python: str | None = None) -> list[str]:
    """The top-level modules of the installed distributions ``names``."""
    python = python or sys.executable
    proc = subprocess.run(
        [python, "-c", _TOP_LEVEL_SNIPPET, *names], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise UsageError(f"cannot list the installed distributions: {proc.stderr.strip()[-300:]}")
    found: dict[str, list[str] | None] = json.loads(proc.stdout)
    missing = [n for n, mods in found.items() if mods is None]
    if missing:
        raise UsageError(
            "not installed for this interpreter: " + ", ".join(missing),
            hint="install the project's dependencies first (pip install -e .)",
        )
    modules: list[str] = []
    for mods in found.values():
        for m in mods or ():
            if m not in modules:
                modules.append(m)
    return modules


def save_imports_run(
    report: ImportReport, *, output_dir: Path | None, runs_dir: Path, started_epoch_s: float
) -> Run:
    """Save the report as a Run: run.json (kind "imports") and imports.json."""
    from memhound._fsutil import atomic_write
    from memhound.model.run import open_run

    writer = open_run(
        "imports",
        ("memhound", "imports", *report.target),
        started_epoch_s,
        output_dir=output_dir,
        runs_dir=runs_dir,
        slug=("imports", *report.target),
    )
    atomic_write(writer.path / IMPORTS_FILE, json.dumps(report.to_dict(), indent=1) + "\n")
    done = replace(writer.meta, status="complete", duration_s=time.time() - started_epoch_s)
    writer.finish(done, None)
    return Run(path=writer.path, meta=done, timeline=Timeline())
