"""memhound's import probe: runs a target in this fresh interpreter and records what each
import costs. Standard library only (it runs in whatever Python the user names).

    python _memhound_imports.py OUT.json [--trace] (-m MODULE | -c CODE | --modules A B ... |
                                                      SCRIPT) [ARGS...]

For every module executed, it records the parent (the module whose execution imported it),
the wall time, the RSS added (``/proc/self/statm``) and, with ``--trace``, the Python heap
added (tracemalloc); figures are inclusive of what the module imported in turn. Modules
already loaded when another module imports them are recorded as "also imported by".
The result is written as JSON to OUT.json, even when the target raises or exits.
"""

import builtins
import os
import sys
import time

# Only modules every interpreter has loaded at start-up are imported here before the probe is
# installed (builtins, os, sys, time): anything more would make the target's own imports of
# it look free. json is imported after the target ran.

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return 0


class _Probe:
    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.records: list[dict[str, Any]] = []
        self.by_name: dict[str, dict[str, Any]] = {}
        # One stack for the process: imports in several threads at once would interleave
        # (rare: each module import holds its own lock, and start-up is usually one thread).
        self.stack: list[str] = []
        self.also: dict[str, set[str]] = {}
        self.root_label = "__main__"
        self._tracemalloc: Any = None
        if trace:
            # The C module: `tracemalloc` itself imports re, fnmatch, collections, ...
            import _tracemalloc

            self._tracemalloc = _tracemalloc

    def _traced(self) -> int:
        tm = self._tracemalloc
        return tm.get_traced_memory()[0] if tm is not None and tm.is_tracing() else 0

    def run_exec(self, name: str, origin: "str | None", exec_module: "Any", module: "Any") -> None:
        stack = self.stack
        parent = stack[-1] if stack else self.root_label
        rec: dict[str, Any] = {
            "name": name,
            "parent": parent,
            "origin": origin,
            "order": len(self.records),
        }
        self.records.append(rec)
        self.by_name[name] = rec
        stack.append(name)
        rss0, traced0, t0 = _rss(), self._traced(), time.perf_counter()
        try:
            exec_module(module)
        except BaseException:
            rec["failed"] = True
            raise
        finally:
            rec["time_s"] = time.perf_counter() - t0
            rec["rss_bytes"] = _rss() - rss0
            rec["traced_bytes"] = self._traced() - traced0 if self.trace else None
            stack.pop()

    def saw_import(self, importer: "str | None", name: str) -> None:
        """``importer`` imported ``name``, which was already loaded."""
        rec = self.by_name.get(name)
        if rec is None or importer is None or importer == rec["parent"] or importer == name:
            return
        self.also.setdefault(name, set()).add(importer)


class _Finder:
    """First on sys.meta_path: finds the spec through the other finders, then times the
    loader's ``exec_module`` (patched on the loader instance, so isinstance checks hold)."""

    def __init__(self, probe: _Probe) -> None:
        self.probe = probe
        self._busy = False

    def find_spec(self, fullname: str, path: "Any" = None, target: "Any" = None) -> "Any":
        if self._busy:
            return None
        self._busy = True
        spec: Any = None
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy = False
        loader: Any = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        probe = self.probe
        original = loader.exec_module
        origin = spec.origin

        def exec_module(module: "Any") -> None:
            probe.run_exec(fullname, origin, original, module)

        if isinstance(loader, type):  # BuiltinImporter, FrozenImporter: class-level loaders
            spec.loader = _LoaderProxy(loader, exec_module)
        else:
            try:
                loader.exec_module = exec_module
            except (AttributeError, TypeError):
                spec.loader = _LoaderProxy(loader, exec_module)
        return spec


class _LoaderProxy:
    def __init__(self, loader: "Any", exec_module: "Any") -> None:
        self._loader = loader
        self.exec_module = exec_module

    def create_module(self, spec: "Any") -> "Any":
        return self._loader.create_module(spec)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._loader, name)


def _install(probe: _Probe) -> "Any":
    """Install the probe; returns a function that removes it again."""
    finder = _Finder(probe)
    sys.meta_path.insert(0, finder)
    original_import = builtins.__import__

    def __import__(
        name: str,
        globals: "Any" = None,
        locals: "Any" = None,
        fromlist: "Any" = (),
        level: int = 0,
    ) -> "Any":
        importer = globals.get("__name__") if isinstance(globals, dict) else None
        if level == 0 and name in sys.modules:
            probe.saw_import(importer, name)
        module = original_import(name, globals, locals, fromlist, level)
        if fromlist and level == 0:
            for item in fromlist:
                sub = f"{name}.{item}"
                if sub in sys.modules:
                    probe.saw_import(importer, sub)
        return module

    builtins.__import__ = __import__

    def uninstall() -> None:
        builtins.__import__ = original_import
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)

    return uninstall


def _top_level_map() -> "dict[str, str]":
    """Top-level module -> distribution name, for every installed distribution (from
    top_level.txt, else from the files it installed: Python 3.10 knows only the former)."""
    from importlib import metadata

    mapping: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:
            for f in dist.files or ():
                parts = f.parts
                if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")):
                    continue
                if len(parts) == 1 and parts[0].endswith(".py"):
                    tops.append(parts[0][:-3])
                elif len(parts) > 1 and parts[0] not in ("..", "__pycache__"):
                    tops.append(parts[0])
        for top in tops:
            mapping.setdefault(top, name)
    return mapping


def _distributions(names: "list[str]") -> "dict[str, str]":
    try:
        mapping = _top_level_map()
    except Exception:
        return {}
    out = {}
    for name in names:
        dist = mapping.get(name.split(".")[0])
        if dist:
            out[name] = dist
    return out


def _main_namespace(script: "str | None") -> "dict[str, Any]":
    """A fresh ``__main__`` module for the program, registered in sys.modules as Python does,
    so pickle, multiprocessing and get_type_hints find what the script defines."""
    main = type(sys)("__main__")  # a module, without importing `types` before the program
    main.__dict__["__builtins__"] = builtins
    if script is not None:
        main.__file__ = script
    sys.modules["__main__"] = main
    return main.__dict__


def main(argv: "list[str]") -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]  # the target must not see memhound's boot folder
    if len(argv) < 3:
        sys.stderr.write(__doc__ or "")
        return 2
    out = argv[1]
    rest = argv[2:]
    trace = False
    if rest and rest[0] == "--trace":
        trace = True
        rest = rest[1:]
    probe = _Probe(trace)
    if trace:
        import _tracemalloc

        _tracemalloc.start(1)
    if rest[0] in ("-m", "-c", "--modules"):
        sys.path.insert(0, os.getcwd())  # as `python -m` and `python -c` do
    preloaded = sorted(sys.modules)
    rss_start = _rss()
    uninstall = _install(probe)
    status: dict[str, Any] = {"ok": True}
    t0 = time.perf_counter()
    try:
        if rest[0] in ("-m", "--modules"):
            # Import each module (`-m X` means "import X": what importing it costs).
            for name in rest[1:] if rest[0] == "--modules" else rest[1:2]:
                try:
                    __import__(name)
                except Exception as exc:
                    failed = status.setdefault("failed_modules", {})
                    failed[name] = f"{type(exc).__name__}: {exc}"
                    status["ok"] = rest[0] == "--modules"
        elif rest[0] == "-c":
            sys.argv = ["-c", *rest[2:]]
            exec(compile(rest[1], "<string>", "exec"), _main_namespace(None))
        else:
            script = os.path.abspath(rest[0])
            sys.argv = list(rest)
            sys.path.insert(0, os.path.dirname(script))
            with open(script, "rb") as fh:
                code = compile(fh.read(), script, "exec")
            exec(code, _main_namespace(script))
    except SystemExit as exc:
        status = {"ok": exc.code in (None, 0), "exit": str(exc.code)}
    except BaseException as exc:
        status = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    total_s = time.perf_counter() - t0
    uninstall()
    names = [r["name"] for r in probe.records]
    result = {
        "format": "memhound.import-probe",
        "version": 1,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "trace": trace,
        "status": status,
        "total_time_s": total_s,
        "rss_start_bytes": rss_start,
        "rss_end_bytes": _rss(),
        "preloaded": preloaded,
        "stdlib": sorted(getattr(sys, "stdlib_module_names", ())),
        "distributions": _distributions(names),
        "records": probe.records,
        "also_imported_by": {k: sorted(v) for k, v in probe.also.items()},
    }
    import json

    tmp = out + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, out)
    return 0 if status.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
