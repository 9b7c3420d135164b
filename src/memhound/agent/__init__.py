"""The in-process agent: what only the interpreter knows, reported to memhound.

``memhound run`` injects it into Python children through a ``sitecustomize`` on their
PYTHONPATH. The agent itself (``_boot/_memhound_agent.py``) uses the standard library only.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BOOT_DIR = Path(__file__).resolve().parent / "_boot"
MODULE_NAME = "_memhound_agent"


def load() -> ModuleType:
    """The agent module, loaded once per process under its own name."""
    mod = sys.modules.get(MODULE_NAME)
    if mod is not None:
        return mod
    spec = importlib.util.spec_from_file_location(MODULE_NAME, BOOT_DIR / f"{MODULE_NAME}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = mod
    spec.loader.exec_module(mod)
    return mod


def start(socket_path: str | None = None, *, trace_python: bool | None = None) -> bool:
    """Start the agent in this process, reporting to ``socket_path`` (default: from the
    MEMHOUND_AGENT_SOCKET environment variable). Returns False when there is nowhere to report.
    """
    return load().start(socket_path, trace_python) is not None


def running() -> bool:
    mod = sys.modules.get(MODULE_NAME)
    return mod is not None and mod.current() is not None
