"""The public API is small and pinned; importing memhound stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import memhound


def test_public_names_are_pinned() -> None:
    assert sorted(memhound.__all__) == sorted(
        [
            "AccessDenied",
            "MemhoundError",
            "MemoryReading",
            "ProcessNotFound",
            "Run",
            "__version__",
            "checkpoint",
            "iteration",
            "load_run",
            "memory",
            "profile",
            "snapshot",
        ]
    )
    for name in memhound.__all__:
        assert getattr(memhound, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        memhound.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_memhound_is_light() -> None:
    code = (
        "import sys, json; before = set(sys.modules); import memhound; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    added = set(json.loads(out))
    heavy = {
        "psutil",
        "rich",
        "plotly",
        "numpy",
        "subprocess",
        "socket",
        "tracemalloc",
        "dataclasses",
        "inspect",
        "argparse",
        "asyncio",
    }
    assert not (added & heavy), f"import memhound pulled in {sorted(added & heavy)}"
    foreign = sorted(m for m in added - {"__future__"} if m.split(".")[0] != "memhound")
    assert not foreign, f"import memhound pulled in {foreign}"


def test_cli_help_does_not_load_the_commands() -> None:
    code = (
        "import sys\nfrom memhound.cli import build_parser\nbuild_parser()\n"
        "assert 'memhound.workflows.run' not in sys.modules\nassert 'rich' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_command_module_keeps_its_imports_for_execute() -> None:
    """Building the parser imports each command module: they must import argparse only."""
    code = (
        "import sys\nfrom memhound.cli import build_parser\nbuild_parser()\n"
        "heavy = [m for m in ('memhound.workflows.run', 'memhound.analysis.summary', 'rich',"
        " 'psutil', 'json', 'subprocess', 'numpy') if m in sys.modules]\nassert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
