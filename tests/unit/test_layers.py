"""A module imports only from its own layer or lower (DESIGN.md, "Layers")."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import memhound

PKG = Path(__file__).resolve().parents[2] / "src" / "memhound"

LAYERS: dict[str, int] = {
    # 0 foundation (and the C extensions, which import nothing of memhound)
    "errors": 0,
    "units": 0,
    "_platform": 0,
    "_fsutil": 0,
    "_native": 0,
    # 1 model: values and their (de)serialisation; the V8 file reader builds model arrays
    "model": 1,
    "heap.v8format": 1,
    # 2 collectors and drivers
    "probes": 2,
    "sampler": 2,
    "alloc": 2,
    "heap.writer": 2,
    "watchers": 2,
    "load": 2,
    # 3 analysis (pure functions of saved data)
    "analysis": 3,
    "leaks": 3,
    "heap": 3,  # graph, diff: the heap family's analysis
    # 4 orchestration
    "agent": 4,
    "workflows": 4,
    # 5 presentation
    "reporters": 5,
    # 6 edges: the CLI, the pytest plugin, the public API (memhound.profile's report renders)
    "cli": 6,
    "pytest_plugin": 6,
    "profiler": 6,
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


def _root_name(name: str) -> str | None:
    """What ``from memhound import name`` really imports: a subpackage or module, a lazy
    public name's module, or None for the root's own constants (``__version__``)."""
    if (PKG / name).is_dir() or (PKG / f"{name}.py").exists():
        return f"memhound.{name}"
    if name in memhound._LAZY:
        return memhound._LAZY[name][0]
    assert name == "__version__", f"`from memhound import {name}`: what is it?"
    return None


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports"
            if node.module == "memhound":
                found.extend(m for a in node.names if (m := _root_name(a.name)))
            elif node.module and node.module.startswith("memhound."):
                folder = PKG.joinpath(*node.module.split(".")[1:])
                for a in node.names:  # `from memhound.heap import graph` imports a module
                    sub = folder / a.name
                    is_module = sub.is_dir() or sub.with_suffix(".py").exists()
                    found.append(f"{node.module}.{a.name}" if is_module else node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
    return [m for m in found if m.startswith("memhound.")]


def test_imports_point_down() -> None:
    bad = []
    for path in PKG.rglob("*.py"):
        if "_boot" in path.parts:
            continue  # runs inside the observed program: standard library only
        me = module_name(path)
        mine = layer_of(me)
        for target in imports(path):
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


def test_imports_from_the_package_root_are_checked(tmp_path: Path) -> None:
    """``from memhound import x`` names a subpackage, or a lazy public name's module."""
    src = tmp_path / "m.py"
    src.write_text("from memhound import __version__, agent, heap, memory\n")
    assert imports(src) == ["memhound.agent", "memhound.heap", "memhound.probes.measure"]
    assert layer_of("memhound.probes.measure") < layer_of("memhound.agent")


def _graph() -> dict[str, set[str]]:
    """Every module's imports of other memhound modules, at any depth of the file."""
    out: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        if "_boot" in path.parts:
            continue
        me = module_name(path)
        out[me] = {t.removesuffix(".__init__") for t in imports(path)} - {me}
    return out


def test_no_import_cycles() -> None:
    """Not even through imports inside functions: a cycle means two modules that are one."""
    graph = _graph()
    known = set(graph)
    cycles = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in known:
                nxt = next((k for k in known if k.startswith(nxt + ".")), nxt)
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt in graph and nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def _names_imported(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("memhound"):
            out += [(str(node.module), a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.startswith("memhound")]
    return out


def test_every_import_of_memhound_names_something_that_exists() -> None:
    """A moved module or name leaves no import behind, not even one inside a function that no
    test happens to run."""
    root = PKG.parents[1]
    files = [p for p in PKG.rglob("*.py") if "_boot" not in p.parts]
    files += [*(root / "tests").rglob("*.py"), *(root / "bench").rglob("*.py")]
    missing = []
    for path in files:
        for module, name in _names_imported(path):
            try:
                mod = importlib.import_module(module)
                if name and not hasattr(mod, name):
                    importlib.import_module(f"{module}.{name}")
            except ImportError as exc:
                missing.append(f"{path.relative_to(root)}: from {module} import {name}: {exc}")
    assert not missing, "\n".join(missing)
