"""A module imports only from its own layer or lower (DESIGN.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "src" / "memhound"

LAYERS: dict[str, int] = {
    "errors": 0,
    "units": 0,
    "_platform": 0,
    "_fsutil": 0,
    "model": 1,
    "probes": 2,
    "watchers": 2,
    "sampler": 2,
    "measure": 2,
    "analysis": 3,
    "leaks": 3,
    "load": 2,
    "alloc": 2,
    "_native": 0,  # C extensions: import nothing of memhound; used by model-level parsers too
    "alloc.group": 3,
    "alloc.profile": 4,
    "profiler": 6,
    "heap": 3,
    "heap.v8format": 1,
    "heap.writer": 2,
    "heap.graph": 3,
    "heap.diff": 3,
    "heap.report": 5,
    "agent": 4,
    "checkpoint": 4,
    "runner": 4,
    "importcost": 4,
    "attach": 4,
    "tune": 4,
    "soak": 4,
    "soak_server": 4,
    "runs": 4,
    "reporters": 5,
    "cli": 6,
    "pytest_plugin": 6,
    "pytest_checks": 6,
    "__init__": 6,
    "__main__": 6,
}


def layer_of(module: str) -> int:
    parts = module.split(".")
    assert parts[0] == "memhound", module
    key = parts[1] if len(parts) > 1 else "__init__"
    if len(parts) > 2 and ".".join(parts[1:3]) in LAYERS:
        key = ".".join(parts[1:3])  # a package whose modules sit in different layers
    assert key in LAYERS, f"memhound.{key} has no layer: add it to LAYERS and DESIGN.md"
    return LAYERS[key]


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1] if len(parts) > 2 else [*parts[:-1], "__init__"]
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
    return [m for m in found if m == "memhound" or m.startswith("memhound.")]


def test_imports_point_down() -> None:
    bad = []
    for path in PKG.rglob("*.py"):
        if "_boot" in path.parts:
            continue  # runs inside the observed program: standard library only
        me = module_name(path)
        mine = layer_of(me)
        for target in imports(path):
            if target == "memhound":
                continue  # the package root holds only __version__ and lazy names
            if layer_of(target) > mine:
                bad.append(f"{me} (layer {mine}) imports {target} (layer {layer_of(target)})")
    assert not bad, "\n".join(bad)


def test_agent_boot_uses_only_the_standard_library() -> None:
    """The agent starts in any interpreter, with or without memhound installed there. Only
    the opt-in heap snapshot reaches for memhound, inside the function that loads its writer."""
    for path in (PKG / "agent" / "_boot").glob("*.py"):
        tree = ast.parse(path.read_text())
        allowed: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "_snapshot_writer":
                allowed |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in allowed:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("memhound"), f"{path.name}: {node.module}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("memhound") for a in node.names), path.name
