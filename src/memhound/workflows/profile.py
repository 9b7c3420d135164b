"""Profiling a block or a whole program: start an engine, stop it, group its counts.

Stopping ends the block's counting first, then (with recording suspended, so memhound's own
work is not counted) runs a full gc, finds the objects allocated in the block that are still
alive, reads the engine's counters and releases it: after the last block nothing stays hooked.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import CodeType, ModuleType

import memhound
from memhound.alloc.engine import Engine, describe_objects, find_new_objects, make_engine
from memhound.analysis.alloc import GroupOptions, PathFacts, group
from memhound.errors import CommandNotFound, UsageError
from memhound.model.allocations import ALLOC_FILE, AllocReport
from memhound.model.run import ExitStatus

DEFAULT_FRAMES = 8
#: The sampling interval ``--sample`` suggests (Go's and jemalloc's default).
DEFAULT_SAMPLE = 512 * 1024
#: The allocation page of a run recorded with ``memhound run --profile``.
ALLOC_HTML = "alloc.html"


@dataclass(frozen=True)
class ProfileOptions:
    top: int = 50
    allow: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    frames: int = DEFAULT_FRAMES
    include_own: bool = False
    engine: str = "auto"
    #: Sampled mode: the mean sampling interval in bytes; 0 counts every allocation.
    sample: int = 0
    #: A fixed random stream for the sampler (reproducible tests); 0: a new one each run.
    sample_seed: int = 0

    def check(self) -> None:
        if self.top < 1:
            raise UsageError("top must be 1 or more")
        if not 1 <= self.frames <= 64:
            raise UsageError("frames must be between 1 and 64")
        if self.sample < 0 or (0 < self.sample < 256) or self.sample > 2**40:
            raise UsageError(
                f"a sampling interval of {self.sample} bytes is out of range",
                hint="give 256 B to 1 TiB, e.g. sample='512KiB' (--sample 512KiB), "
                "or leave it out to count every allocation",
            )
        if self.sample and self.engine == "tracemalloc":
            raise UsageError(
                "the tracemalloc engine cannot sample",
                hint="use engine='native' (or auto) with sample, or drop sample",
            )
        if not 0 <= self.sample_seed < 2**64:
            raise UsageError("sample_seed must be between 0 and 2**64 - 1")


class _Distributions(Mapping[str, str]):
    """Top-level import name -> distribution, read on first use: reading every installed
    distribution's file list takes a quarter of a second here, and a report whose sites are all
    in the stdlib and the user's code never needs it."""

    def __init__(self) -> None:
        self._map: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._map is None:
            import importlib.metadata

            try:
                self._map = {
                    top: names[0]
                    for top, names in importlib.metadata.packages_distributions().items()
                    if names
                }
            except Exception:  # a broken distribution must not cost the report
                self._map = {}
        return self._map

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def path_facts() -> PathFacts:
    import runpy
    import site
    import sysconfig
    import tracemalloc

    paths = sysconfig.get_paths()
    stdlib = {paths["stdlib"], paths["platstdlib"]}
    sites = set(site.getsitepackages()) | {paths["purelib"], paths["platlib"]}
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        sites.add(user_site)
    sites |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    own = [os.path.dirname(os.path.abspath(memhound.__file__))]
    if runpy.__file__:
        own.append(runpy.__file__)
    own.append("<frozen runpy>")
    own.append(tracemalloc.__file__)  # the fallback engine's snapshots
    return PathFacts(
        stdlib_dirs=tuple(sorted(stdlib)),
        site_dirs=tuple(sorted(sites)),
        cwd=os.getcwd(),
        own_prefixes=tuple(own),
        distributions=_Distributions(),
    )


class ProfileSession:
    """One block: ``start()``, the code to profile, ``stop() -> AllocReport``."""

    def __init__(self, options: ProfileOptions) -> None:
        options.check()
        self.options = options
        self._engine: Engine | None = None
        self._t0 = 0.0

    @property
    def running(self) -> bool:
        return self._engine is not None

    def start(self) -> None:
        if self._engine is not None:
            raise UsageError("this profile is already running", hint="stop() it first")
        engine = make_engine(
            self.options.engine,
            self.options.frames,
            sample=self.options.sample,
            seed=self.options.sample_seed,
        )
        self._t0 = time.perf_counter()
        engine.start()  # last: from here on, allocations count
        self._engine = engine

    def stop(self, *, target: tuple[str, ...] = (), outcome: str = "") -> AllocReport:
        engine = self._engine
        if engine is None:
            raise UsageError("this profile is not running", hint="start() it first")
        self._engine = None
        engine.end()
        duration = time.perf_counter() - self._t0
        engine.suspend()
        try:
            if engine.sample:
                # sampled: types and strings are not measured (the walk would find only the
                # sampled objects, and costs time with the heap)
                objects: list[tuple[str, int, int]] = []
                strings: list[tuple[str, int, int]] = []
            else:
                gc.collect()
                items = find_new_objects(engine)
                objects, strings = describe_objects(items)
                del items
            result = engine.results()
        finally:
            engine.resume()
            engine.release()
        result.objects = objects
        result.strings = strings
        opts = self.options
        return group(
            result,
            path_facts(),
            GroupOptions(
                top=opts.top, allow=opts.allow, ignore=opts.ignore, include_own=opts.include_own
            ),
            duration_s=duration,
            target=target,
            outcome=outcome,
        )


# -- a whole program -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileTarget:
    kind: str  # "script" or "module"
    name: str
    args: tuple[str, ...] = ()

    def label(self) -> tuple[str, ...]:
        head = ("-m", self.name) if self.kind == "module" else (self.name,)
        return (*head, *self.args)

    def check(self) -> None:
        if self.kind == "script":
            if not os.path.isfile(self.name):
                raise CommandNotFound(
                    f"no such script: {self.name!r}",
                    hint="give the path of a Python file, or -m MODULE to run a module",
                )
            return
        import importlib.util

        sys.path.insert(0, os.getcwd())
        try:
            spec = importlib.util.find_spec(self.name)
        except (ImportError, ValueError) as exc:
            spec = None
            detail = f" ({exc})"
        else:
            detail = ""
        finally:
            sys.path.pop(0)
        if spec is None:
            raise CommandNotFound(
                f"module {self.name!r} is not importable{detail}",
                hint="check the name and that this interpreter's environment has it "
                f"({sys.executable} -c 'import {self.name.split('.')[0]}')",
            )


def _prepare(target: ProfileTarget) -> tuple[CodeType, ModuleType, str]:
    """The compiled program, its ``__main__`` module and its sys.path[0]; compiled here rather
    than by runpy, so that runpy's own work is not counted. Nothing global changes yet."""
    import builtins
    import importlib.util

    main = ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    if target.kind == "script":
        path = os.path.abspath(target.name)
        with open(path, "rb") as f:
            source = f.read()
        try:
            compiled = compile(source, path, "exec")
        except SyntaxError as exc:
            raise UsageError(
                f"{target.name} does not compile: {exc.msg} (line {exc.lineno})",
                hint=f"python {target.name} shows the same error",
            ) from exc
        main.__file__ = path
        return compiled, main, os.path.dirname(path)
    sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(target.name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(target.name + ".__main__")  # a package: its __main__
        code = None
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "get_code"):
            try:
                code = spec.loader.get_code(spec.name)
            except SyntaxError as exc:
                raise UsageError(
                    f"module {target.name!r} does not compile: {exc.msg} "
                    f"({exc.filename}, line {exc.lineno})",
                    hint=f"python -m {target.name} shows the same error",
                ) from exc
    except ImportError as exc:
        raise CommandNotFound(f"module {target.name!r} cannot be run ({exc})") from exc
    finally:
        sys.path.pop(0)
    if spec is None or code is None:
        raise CommandNotFound(
            f"module {target.name!r} cannot be run",
            hint="a package needs a __main__ module; python -m must be able to run it",
        )
    main.__file__ = spec.origin
    main.__spec__ = spec
    main.__loader__ = spec.loader
    main.__package__ = spec.parent
    return code, main, os.getcwd()


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def profile_program(
    target: ProfileTarget,
    options: ProfileOptions,
    *,
    output_dir: Path | None,
    runs_dir: Path,
    into: Path | None = None,
) -> tuple[Path, AllocReport, int]:
    """Run a script or module in this interpreter under one profile block and save the Run
    (run.json, alloc.json); with ``into``, only alloc.json into that directory (a run that
    ``memhound run --profile`` records). The report is written whatever way the program ends.
    Returns (the directory, the report, the program's exit code)."""
    import json
    import traceback

    from memhound.model.run import open_run

    options.check()
    target.check()
    compiled, main, path0 = _prepare(target)
    started = time.time()
    writer = None
    if into is None:
        writer = open_run(
            "profile",
            ("memhound", "profile", *target.label()),
            started,
            output_dir=output_dir,
            runs_dir=runs_dir,
            slug=("profile", *target.label()),
        )
    session = ProfileSession(options)
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    saved_main = sys.modules.get("__main__")
    code, outcome, interrupted = 0, "completed", False
    # as Python sets it: the script as given, or the module's file
    argv0 = target.name if target.kind == "script" else (main.__file__ or target.name)
    sys.argv = [argv0, *target.args]
    if target.kind == "script":
        sys.path[0] = path0
    else:
        sys.path.insert(0, path0)
    sys.modules["__main__"] = main
    session.start()
    try:
        exec(compiled, main.__dict__)
    except SystemExit as exc:
        code = _exit_code(exc)
        outcome = f"exited with code {code} (SystemExit)"
    except KeyboardInterrupt:
        code, outcome, interrupted = 130, "interrupted (KeyboardInterrupt)", True
    except BaseException as exc:  # the program's own error: report it, keep the profile
        traceback.print_exc()
        code, outcome = 1, f"raised {type(exc).__name__}: {exc}"
    finally:
        try:
            report = session.stop(target=target.label(), outcome=outcome)
        finally:
            sys.argv = saved_argv
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
            if target.kind == "module":
                sys.path.pop(0)
            elif saved_path0 is not None:
                sys.path[0] = saved_path0
    data = json.dumps(report.to_dict(), indent=1) + "\n"
    if writer is None:
        from memhound._fsutil import atomic_write

        assert into is not None
        atomic_write(into / ALLOC_FILE, data)
        return into, report, code
    writer.write_file(ALLOC_FILE, data)
    done = replace(
        writer.meta,
        status="interrupted" if interrupted else "complete",
        duration_s=time.time() - started,
        ended_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        exit=ExitStatus(returncode=code, interrupted=interrupted),
    )
    writer.finish(done, None)
    return writer.path, report, code


#: Python options that take a value (``python -X dev job.py``).
_PY_OPTS_WITH_VALUE = {"-X", "-W", "--check-hash-based-pycs"}


def profile_child_argv(argv: list[str], into: Path) -> list[str]:
    """``python [opts] job.py ARGS`` (or ``-m mod``) as the same interpreter running
    ``memhound profile --into-run INTO`` on it: how ``memhound run --profile`` profiles its
    child. memhound is appended to the child's sys.path (after the child's own packages)."""
    i = 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-m", "-c", "-"):
        i += 2 if argv[i] in _PY_OPTS_WITH_VALUE else 1
    rest = argv[i:]
    if not rest or rest[0] in ("-c", "-") or (rest[0] == "-m" and len(rest) < 2):
        raise UsageError(
            "--profile needs a Python script or module to run",
            hint="memhound run --profile -- python job.py ARGS (or python -m module ARGS)",
        )
    home = os.path.dirname(os.path.dirname(os.path.abspath(memhound.__file__)))
    boot = (
        f"import sys; sys.path.append({home!r}); from memhound.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    profile = ["profile", "--format", "none", "--into-run", str(into)]
    return [argv[0], *argv[1:i], "-c", boot, *profile, *rest]
