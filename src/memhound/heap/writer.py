"""Walk this process's live object graph and write it as a V8 ``.heapsnapshot`` file.

How Python maps onto the format (see docs/heap.md):

- every gc-tracked object, and every object they reference (str, int, bytes... too), is a node;
  its ``self_size`` is ``sys.getsizeof`` (an instance's ``__dict__``, when it exists as a
  separate dict, is folded into the instance: its entries become the instance's properties);
- edges: attributes, ``__slots__``, string dict keys and module globals are ``property``
  edges; list/tuple/set items and other dict keys are ``element``/``internal`` edges; closure
  variables and frame locals are ``context`` edges; weak references are ``weak`` edges; the
  rest ``internal`` edges named after the referent's type;
- synthetic roots: ``(modules)`` (``sys.modules``), one ``(thread NAME)`` per thread stack,
  ``(memhound)`` for memhound's own modules, the modules it imported to take snapshots (numpy)
  and its frames, and ``(held from C)`` for gc objects reached from none of them, so every
  node is reachable and what only memhound holds can be told apart;
- node ids are odd numbers, stable while an object lives at the same address with the same
  type, so two snapshots of one process match objects.

Edges to ``None``, ``True``, ``False``, ``Ellipsis`` and ``NotImplemented`` are left out:
every object would point to them and they are never a leak.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import tracemalloc
import types
import weakref
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from memhound._fsutil import atomic_private_file
from memhound._native import load
from memhound._platform import traverse_unsafe_ids
from memhound.heap.v8format import EDGE_TYPES, MEMHOUND_ROOT, META, NODE_FIELDS, NODE_TYPES

_NT = {name: i for i, name in enumerate(NODE_TYPES)}
_ET = {name: i for i, name in enumerate(EDGE_TYPES)}
N_HIDDEN, N_ARRAY, N_STRING, N_OBJECT = _NT["hidden"], _NT["array"], _NT["string"], _NT["object"]
N_CODE, N_CLOSURE, N_NUMBER, N_NATIVE = _NT["code"], _NT["closure"], _NT["number"], _NT["native"]
N_SYNTHETIC = _NT["synthetic"]
E_CONTEXT, E_ELEMENT, E_PROPERTY = _ET["context"], _ET["element"], _ET["property"]
E_INTERNAL, E_HIDDEN, E_WEAK = _ET["internal"], _ET["hidden"], _ET["weak"]

#: characters of a str kept in its node name
NAME_CHARS = 120
_MAX_U32 = 2**32 - 1
_HEAP_DIR = os.path.dirname(os.path.abspath(__file__))
#: memhound's package folder: modules and frames of files in it are memhound's own (the
#: agent's boot folder, which observed programs import from, is inside it)
_OWN_DIR = os.path.dirname(_HEAP_DIR) + os.sep
#: modules first imported by memhound's own snapshot machinery (numpy and its parts, json...)
_IMPORTED_FOR_SNAPSHOTS: set[str] = set()
_PREPARED: set[str] = set()
_NUMBER_TYPES = (int, float, complex, bool)
_WEAK_TYPES = (weakref.ReferenceType, weakref.ProxyType, weakref.CallableProxyType)


@dataclass(frozen=True)
class SnapshotInfo:
    """What :func:`snapshot` wrote. ``total_size_bytes`` is the sum of shallow sizes."""

    path: Path
    node_count: int
    edge_count: int
    total_size_bytes: int
    walk_s: float
    write_s: float


class _IdRegistry:
    """Node ids kept between snapshots: (address, type address) -> id, as sorted arrays.

    The pure-Python walker's; the native walker keeps its ids in ``_heapwalk.Registry``
    (:func:`_native_registry`), 12 bytes a node, matched through the walk's own index.
    """

    def __init__(self) -> None:
        self.addrs: Any = None
        self.types: Any = None
        self.ids: Any = None
        self.next_id = 101

    def assign(self, addrs: Any, tys: Any) -> Any:
        import numpy as np

        ids = np.zeros(addrs.shape[0], dtype=np.int64)
        known = np.zeros(addrs.shape[0], dtype=bool)
        if self.addrs is not None and self.addrs.shape[0]:
            pos = np.searchsorted(self.addrs, addrs).clip(0, self.addrs.shape[0] - 1)
            known = (self.addrs[pos] == addrs) & (self.types[pos] == tys)
            ids[known] = self.ids[pos[known]]
        fresh = int((~known).sum())
        ids[~known] = self.next_id + 2 * np.arange(fresh, dtype=np.int64)
        self.next_id += 2 * fresh
        if self.next_id > _MAX_U32 - 2:  # ids must fit V8's uint32: start again, odd
            self.next_id = 101
        order = np.argsort(addrs, kind="stable")
        self.addrs, self.types, self.ids = addrs[order], tys[order], ids[order]
        return ids


_REGISTRY = _IdRegistry()
_NATIVE_REGISTRY: list[Any] = []


def _native_registry(native: Any) -> Any:
    """The process's ``_heapwalk.Registry``, made on first use."""
    if not _NATIVE_REGISTRY:
        _NATIVE_REGISTRY.append(native.Registry())
    return _NATIVE_REGISTRY[0]


class _TypeInfo:
    __slots__ = ("candidates", "folded", "learned", "name", "slots", "tried")

    def __init__(self, name: int, slots: list[tuple[str, Any]]) -> None:
        self.name = name
        self.slots = slots
        self.learned: list[str] = []
        self.candidates: list[str] | None = None
        self.tried: set[str] = set()
        self.folded = False


def snapshot(
    path: str | os.PathLike[str],
    *,
    redact_strings: bool = False,
    gzip: bool | None = None,
    collect: bool = True,
) -> SnapshotInfo:
    """Write the live object graph of this process to ``path`` as a V8 heap snapshot.

    Chrome DevTools (Memory, Load) and memlab open the file as it is, and so does
    ``memhound heap``. ``redact_strings`` replaces the text of every str and bytes (and of
    plain dicts' string keys) by its length. ``gzip`` compresses (default: when ``path``
    ends in ``.gz``). ``collect`` runs ``gc.collect()`` first, as V8 does, so that garbage
    does not show. The file is written to a temporary name, mode 0600, then renamed.

    >>> import memhound
    >>> memhound.snapshot("app.heapsnapshot").node_count  # doctest: +SKIP
    412367
    """
    # a str, not a Path, while the heap is walked: a Path (gc-tracked) made here would be an
    # object of memhound's in the snapshot, and match the next snapshot's at the same address
    fspath = os.fspath(path)
    if not isinstance(fspath, str):
        fspath = os.fsdecode(fspath)
    if gzip is None:
        gzip = fspath.endswith(".gz")
    prepare(gzip=gzip)
    if collect:
        gc.collect()
    t0 = time.perf_counter()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)  # other threads wait: the graph must not move under us
    # no collection during the walk: finalizers would run the program's code under it
    was_enabled = gc.isenabled()
    gc.disable()
    walker: _Walker | None = None
    try:
        native = _native_module()
        if native is not None:
            walker = _NativeWalker(gc.get_objects(), redact_strings, native)
        else:
            walker = _Walker(gc.get_objects(), redact_strings)
        walker.walk()
        tables = walker.tables()
    finally:
        if walker is not None:
            walker.close()
        walker = None
        if was_enabled:
            gc.enable()
        sys.setswitchinterval(interval)
    t1 = time.perf_counter()
    target = Path(fspath)
    with atomic_private_file(
        target, buffering=1 << 20, hint="choose another path, or fix the directory's permissions"
    ) as raw:
        if gzip:
            import gzip as gzip_module

            with gzip_module.GzipFile(fileobj=raw, mode="wb", compresslevel=5, mtime=0) as gz:
                _write_json(gz, tables)
        else:
            _write_json(raw, tables)
    t2 = time.perf_counter()
    return SnapshotInfo(
        path=target,
        node_count=int(tables["node_count"]),
        edge_count=int(tables["edge_count"]),
        total_size_bytes=int(tables["total_size"]),
        walk_s=t1 - t0,
        write_s=t2 - t1,
    )


def prepare(*, gzip: bool) -> None:
    """Everything a snapshot imports or builds on first use, done before the walk: imported
    after the first walk (numpy alone is ~200 modules), it would be new objects in the second
    snapshot, and the three-snapshot method would rank memhound's imports above the leak.
    The modules this brings in are remembered as memhound's (the ``(memhound)`` root)."""
    key = "gzip" if gzip else "plain"
    if key in _PREPARED:
        return
    before = set(sys.modules)
    import io
    import json  # noqa: F401  (_write_json's)

    import numpy as np

    if gzip:
        import gzip as gzip_module  # noqa: F401

    # the numpy calls the walk and the writing make, once on tiny arrays: some import more of
    # numpy or build caches the first time (np.unique, argsort, frombuffer, fromiter...)
    edges = array("q", [0, E_ELEMENT, 0, 1, 1, E_WEAK, 0, 2])
    _unreachable(3, edges, 0)
    _IdRegistry().assign(np.array([3, 1, 2], dtype=np.int64), np.zeros(3, dtype=np.int64))
    np.fromiter(iter((1, 2)), dtype=np.int64, count=2)
    np.bincount(np.array([0, 1, 1]), minlength=3).astype(np.int64).sum()
    np.intersect1d(np.array([1, 2]), np.array([2]))
    tables = {
        "node_count": 1,
        "edge_count": 0,
        "nodes": np.zeros((1, len(NODE_FIELDS)), dtype=np.int64),
        "edges": np.zeros((0, 3), dtype=np.int64),
        "locations": np.zeros((0, 4), dtype=np.int64),
        "trace_function_infos": [],
        "trace_tree": [],
        "strings": [""],
    }
    _write_json(io.BytesIO(), tables)
    _native_module()
    # and the file's: tempfile makes its name generator (and caches its folder) on first use
    import tempfile

    with (
        tempfile.TemporaryDirectory(prefix="memhound-") as tmp,
        atomic_private_file(Path(tmp) / "warm-up") as fh,
    ):
        fh.write(b"{}")
    _IMPORTED_FOR_SNAPSHOTS.update(set(sys.modules) - before)
    _PREPARED.add(key)


def _is_own_module(name: str, mod: types.ModuleType) -> bool:
    """memhound's own modules (the agent's included) and those it imported for snapshots."""
    if name in _IMPORTED_FOR_SNAPSHOTS or name == "memhound" or name.startswith("memhound."):
        return True
    if name.startswith("_memhound_"):
        return True
    file = getattr(mod, "__file__", None)
    return isinstance(file, str) and file.startswith(_OWN_DIR)


class _Walker:
    """One walk. Everything it creates is made after ``gc.get_objects()``: none of it shows."""

    def __init__(self, gc_objects: list[object], redact: bool) -> None:
        self.gc_objects = gc_objects
        self.redact = redact
        self.objs: list[object] = []
        self.index: dict[int, int] = {}
        self.strings: dict[str, int] = {"": 0}
        self.n_type = array("b")
        self.n_name = array("q")
        self.n_size = array("q")
        self.edges = array("q")  # (src, type, name_or_index, to) per edge
        self.locations: list[tuple[int, int, int]] = []
        self.scripts: dict[str, int] = {}
        self.types: dict[type, _TypeInfo] = {}
        self.infos: dict[type, tuple[int, list[str], set[str], bool]] = {}
        self.synthetic = 0
        self.cursor = 0  # the next node to visit
        own = (self, _REGISTRY, _NATIVE_REGISTRY, *_NATIVE_REGISTRY, gc_objects, self.index)
        for obj in (*own, self.objs):
            self.index[id(obj)] = -1

    # -- tables -------------------------------------------------------------------------
    def s(self, text: str) -> int:
        i = self.strings.get(text)
        if i is None:
            i = self.strings[text] = len(self.strings)
        return i

    def add(self, obj: object) -> int:
        """The node of ``obj``, appended (to be visited later) when new."""
        key = id(obj)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.objs)
            self.objs.append(obj)
            self.n_type.append(0)
            self.n_name.append(0)
            self.n_size.append(0)
        return i

    def synthetic_node(self, name: str) -> int:
        i = len(self.objs)
        self.objs.append(None)
        self.n_type.append(N_SYNTHETIC)
        self.n_name.append(self.s(name))
        self.n_size.append(0)
        self.synthetic += 1
        return i

    def edge(self, src: int, etype: int, name: int, obj: object) -> None:
        if obj is None or obj is True or obj is False or obj is Ellipsis or obj is NotImplemented:
            return
        key = id(obj)
        to = self.index.get(key)
        if to is None:
            to = self.index[key] = len(self.objs)
            self.objs.append(obj)
            self.n_type.append(0)
            self.n_name.append(0)
            self.n_size.append(0)
        elif to < 0:
            return
        self.edges.extend((src, etype, name, to))

    def edge_to_node(self, src: int, etype: int, name: int, to: int) -> None:
        self.edges.extend((src, etype, name, to))

    def set_node(self, i: int, ntype: int, name: int) -> None:
        self.n_type[i] = ntype
        self.n_name[i] = name

    def add_size(self, i: int, size: int) -> None:
        self.n_size[i] = min(self.n_size[i] + size, _MAX_U32)

    def index_get(self, key: int) -> int | None:
        """The node of the object whose ``id`` is ``key`` (-1: left out), or None."""
        return self.index.get(key)

    def index_set(self, key: int, i: int) -> None:
        self.index[key] = i

    # -- the walk -----------------------------------------------------------------------
    def walk(self) -> None:
        root = self.synthetic_node("")
        modules = self.synthetic_node("(modules)")
        held = self.synthetic_node("(held from C)")
        own = self.synthetic_node(MEMHOUND_ROOT)
        self.edge_to_node(root, E_ELEMENT, 1, modules)
        own_frames = self._own_frames()
        stacks: list[tuple[int, list[types.FrameType]]] = []
        own_stack: list[types.FrameType] = []  # memhound's frames, of any thread
        names = {t.ident: t.name for t in threading.enumerate()}
        for n, (tid, top) in enumerate(sys._current_frames().items()):
            frames: list[types.FrameType] = []
            f: types.FrameType | None = top
            while f is not None:
                if id(f) in own_frames:
                    pass
                elif f.f_code.co_filename.startswith(_OWN_DIR):
                    own_stack.append(f)
                else:
                    frames.append(f)
                f = f.f_back
            if not frames:
                continue
            node = self.synthetic_node(f"(thread {names.get(tid, tid)})")
            self.edge_to_node(root, E_ELEMENT, n + 2, node)
            stacks.append((node, frames))
        # after the program's roots: an object as near to one of them as to memhound's is the
        # program's (a breadth-first search keeps the first path it finds)
        self.edge_to_node(root, E_ELEMENT, len(stacks) + 2, own)
        self.edge_to_node(root, E_ELEMENT, len(stacks) + 3, held)
        for fid in own_frames:
            self.index_set(fid, -1)
        for name, mod in sorted(sys.modules.items(), key=lambda kv: kv[0]):
            if isinstance(mod, types.ModuleType):
                i = self.add(mod)
                if i >= 0:
                    group = own if _is_own_module(name, mod) else modules
                    self.edge_to_node(group, E_PROPERTY, self.s(name), i)
                    d = getattr(mod, "__dict__", None)
                    if type(d) is dict and self.index_get(id(d)) is None:
                        self.index_set(id(d), i)  # fold the module's dict into the module
        for node, frames in [*stacks, (own, own_stack)]:
            for f in frames:
                i = self.add(f)
                code = f.f_code
                label = f"{code.co_name} ({_short(code.co_filename)}:{f.f_lineno})"
                self.edge_to_node(node, E_PROPERTY, self.s(label), i)
        self._drain()
        count = self._held_pass(held)
        # what is left unreachable is reached only through weak references (static types and
        # their descriptors, which gc does not track): held from C too
        for i in self._unreachable_nodes():
            self.edge_to_node(held, E_ELEMENT, count, i)
            count += 1

    def _held_pass(self, held: int) -> int:
        """Each gc object nothing reached so far becomes an element of ``held``."""
        count = 0
        for obj in self.gc_objects:
            if id(obj) not in self.index:
                i = self.add(obj)
                self.edge_to_node(held, E_ELEMENT, count, i)
                count += 1
                self._drain()
        return count

    def _unreachable_nodes(self) -> list[int]:
        return _unreachable(len(self.objs), self.edges, 0)

    def _own_frames(self) -> set[int]:
        own: set[int] = set()
        f: types.FrameType | None = sys._getframe()
        while f is not None and os.path.dirname(f.f_code.co_filename) == _HEAP_DIR:
            own.add(id(f))
            f = f.f_back
        return own

    def _drain(self) -> None:
        objs = self.objs
        while self.cursor < len(objs):
            i = self.cursor
            self.cursor += 1
            obj = objs[i]
            if obj is None and self.n_type[i] == N_SYNTHETIC:
                continue
            try:
                size = sys.getsizeof(obj)
            except Exception:
                size = 0
            self.n_size[i] = min(size, _MAX_U32)
            self._visit_safe(i, obj)

    def _visit_safe(self, i: int, obj: object) -> None:
        try:
            self.visit(i, obj)
        except Exception:  # a strange object must not stop the snapshot
            self.set_node(i, N_HIDDEN, self.s(_type_name(type(obj))))

    def visit(self, i: int, obj: object) -> None:
        t = type(obj)
        if t is str:
            text: str = obj  # type: ignore[assignment]
            if self.redact:
                self.set_node(i, N_STRING, self.s(f"<str len={len(text)}>"))
            else:
                short = text if len(text) <= NAME_CHARS else text[:NAME_CHARS]
                self.set_node(i, N_STRING, self.s(short))
            return
        if t in _NUMBER_TYPES:
            self.set_node(i, N_NUMBER, self.s(t.__name__))
            return
        if t is bytes or t is bytearray:
            data: bytes = obj  # type: ignore[assignment]
            if self.redact:
                self.set_node(i, N_STRING, self.s(f"<{t.__name__} len={len(data)}>"))
            else:
                self.set_node(i, N_STRING, self.s(repr(bytes(data[:NAME_CHARS]))))
            return
        if t is dict:
            self.set_node(i, N_OBJECT, self.s("dict"))
            self._dict_items(i, obj)  # type: ignore[arg-type]
            return
        if t is list or t is tuple:
            self.set_node(i, N_OBJECT, self.s(t.__name__))
            for k, item in enumerate(cast("list[object]", obj)):
                self.edge(i, E_ELEMENT, k, item)
            return
        if t is set or t is frozenset:
            self.set_node(i, N_OBJECT, self.s(t.__name__))
            for k, item in enumerate(cast("set[object]", obj)):
                self.edge(i, E_ELEMENT, k, item)
            return
        if t is types.FunctionType:
            self._function(i, obj)  # type: ignore[arg-type]
            return
        if t is types.CodeType:
            code: types.CodeType = obj  # type: ignore[assignment]
            qual = getattr(code, "co_qualname", code.co_name)
            where = f"{_short(code.co_filename)}:{code.co_firstlineno}"
            self.set_node(i, N_CODE, self.s(f"{qual} ({where})"))
            self._rest(i, obj, set())
            return
        if t is types.FrameType:
            self._frame(i, obj)  # type: ignore[arg-type]
            return
        if t is types.CellType:
            self.set_node(i, N_HIDDEN, self.s("cell"))
            try:
                self.edge(i, E_INTERNAL, self.s("cell_contents"), obj.cell_contents)  # type: ignore[attr-defined]
            except ValueError:
                pass
            return
        if isinstance(obj, types.ModuleType):
            self.set_node(i, N_OBJECT, self.s(f"module {obj.__name__}"))
            self._module(i, obj)
            return
        if isinstance(obj, type):
            self.set_node(i, N_OBJECT, self.s(f"class {_type_name(obj)}"))
            self._class(i, obj)
            return
        if t in _WEAK_TYPES or isinstance(obj, weakref.ReferenceType):
            self.set_node(i, N_OBJECT, self.s(_type_name(t)))
            target = _weak_target(obj)
            if target is not None:
                self.edge(i, E_WEAK, self.s("__referent__"), target)
            self._rest(i, obj, set())
            return
        self._instance(i, obj, t)

    def _dict_items(self, i: int, d: dict[Any, Any], *, keys_as_names: bool = False) -> None:
        for hidden, (k, v) in enumerate(dict.items(d)):
            if type(k) is str:
                if self.redact and not keys_as_names:
                    self.edge(i, E_ELEMENT, hidden, v)
                else:
                    self.edge(i, E_PROPERTY, self.s(k), v)
                if not keys_as_names:
                    self.edge(i, E_HIDDEN, hidden, k)
            else:
                label = repr(k) if type(k) in _NUMBER_TYPES else f"<{type(k).__name__}>"
                self.edge(i, E_INTERNAL, self.s(f"[{label}]"), v)
                self.edge(i, E_HIDDEN, hidden, k)

    def _function(self, i: int, fn: types.FunctionType) -> None:
        code = fn.__code__
        where = f"{_short(code.co_filename)}:{code.co_firstlineno}"
        self.set_node(i, N_CLOSURE, self.s(f"{fn.__module__}.{fn.__qualname__} ({where})"))
        script = self.scripts.setdefault(code.co_filename, len(self.scripts) + 1)
        self.locations.append((i, script, max(code.co_firstlineno - 1, 0)))
        done: set[int] = set()
        if fn.__closure__:
            for name, cell in zip(code.co_freevars, fn.__closure__, strict=False):
                self.edge(i, E_CONTEXT, self.s(name), cell)
                done.add(id(cell))
        named = (
            ("__code__", code),
            ("__globals__", fn.__globals__),
            ("__closure__", fn.__closure__),
            ("__defaults__", fn.__defaults__),
            ("__kwdefaults__", fn.__kwdefaults__),
            ("__doc__", fn.__doc__),
            ("__name__", fn.__name__),
            ("__qualname__", fn.__qualname__),
            ("__module__", fn.__module__),
        )
        for name, value in named:
            if value is not None and id(value) not in done:
                self.edge(i, E_INTERNAL, self.s(name), value)
                done.add(id(value))
        self._rest(i, fn, done)

    def _frame(self, i: int, f: types.FrameType) -> None:
        code = f.f_code
        where = f"{_short(code.co_filename)}:{f.f_lineno}"
        self.set_node(i, N_HIDDEN, self.s(f"frame {code.co_name} ({where})"))
        local_vars = f.f_locals
        if type(local_vars) is dict and self.index_get(id(local_vars)) is None:
            # The dict a function frame's locals are copied into when read (by this walk,
            # up to 3.12): part of the frame, not an object of the program's held from C
            self.index_set(id(local_vars), i)
        for name, value in list(local_vars.items()):
            if type(name) is str:
                self.edge(i, E_CONTEXT, self.s(name), value)
        if f.f_back is not None:
            self.edge(i, E_INTERNAL, self.s("f_back"), f.f_back)
        self.edge(i, E_INTERNAL, self.s("f_code"), code)
        self.edge(i, E_INTERNAL, self.s("f_globals"), f.f_globals)

    def _module(self, i: int, mod: types.ModuleType) -> None:
        # _asyncio on CPython 3.12.0-3.12.4 must not be traversed: see traverse_unsafe_ids
        d = [mod.__dict__] if id(mod) in traverse_unsafe_ids() else gc.get_referents(mod)
        done: set[int] = set()
        for ref in d:
            if type(ref) is dict and self.index_get(id(ref)) in (None, i):
                self.index_set(id(ref), i)
                self._dict_items(i, ref, keys_as_names=True)
                done.add(id(ref))
        self._rest(i, mod, done, d)

    def _class(self, i: int, cls: type) -> None:
        done: set[int] = set()
        try:
            proxy = type.__dict__["__dict__"].__get__(cls)
            inner = gc.get_referents(proxy)
        except Exception:
            inner = []
        for d in inner:
            if type(d) is dict:
                if self.index_get(id(d)) in (None, i):
                    self.index_set(id(d), i)
                    self._dict_items(i, d, keys_as_names=True)
                else:
                    self.edge(i, E_INTERNAL, self.s("__dict__"), d)
                done.add(id(d))
        for name in ("__mro__", "__bases__", "__base__"):
            value = type.__dict__[name].__get__(cls)
            if value is not None and id(value) not in done:
                self.edge(i, E_INTERNAL, self.s(name), value)
                done.add(id(value))
        self._rest(i, cls, done)

    def _instance(self, i: int, obj: object, t: type) -> None:
        info = self.types.get(t)
        if info is None:
            info = self.types[t] = _TypeInfo(self.s(_type_name(t)), _slots_of(t))
            # what the native walker needs to do this type's next instances itself
            fast = not info.slots and not issubclass(t, dict | list | tuple)
            self.infos[t] = (info.name, info.learned, info.tried, fast)
        self.set_node(i, N_OBJECT, info.name)
        refs = gc.get_referents(obj)
        if not refs:
            return
        want = {id(r) for r in refs}
        done: set[int] = set()
        for name, desc in info.slots:
            try:
                value = desc.__get__(obj, t)
            except Exception:
                continue
            if id(value) in want:
                self.edge(i, E_PROPERTY, self.s(name), value)
                done.add(id(value))
        if t.__dictoffset__ != 0 and len(done) < len(want):
            self._attributes(i, obj, t, info, want, done)
        if id(t) in want and id(t) not in done:
            self.edge(i, E_INTERNAL, self.s("__class__"), t)
            done.add(id(t))
        if t is not dict and isinstance(obj, dict):
            self._dict_items(i, obj)
            done.update(id(v) for v in dict.values(obj))
            done.update(id(k) for k in dict.keys(obj))
        elif isinstance(obj, list | tuple):
            for k, item in enumerate(obj):
                self.edge(i, E_ELEMENT, k, item)
                done.add(id(item))
        self._rest(i, obj, done, refs)

    def _attributes(
        self, i: int, obj: object, t: type, info: _TypeInfo, want: set[int], done: set[int]
    ) -> None:
        """Name the instance's attribute values without materialising its ``__dict__``."""
        get = object.__getattribute__
        for name in info.learned:
            try:
                value = get(obj, name)
            except Exception:
                continue
            if id(value) in want:
                self.edge(i, E_PROPERTY, self.s(name), value)
                done.add(id(value))
        if len(done) + (id(t) in want) >= len(want):
            return
        if info.folded and self._fold_dict(i, obj, t, info, done):
            return
        if info.candidates is None:
            info.candidates = _attribute_candidates(t)
        for name in info.candidates:
            if name in info.tried:
                continue
            try:
                value = get(obj, name)
            except Exception:
                continue
            if id(value) in want and id(value) not in done:
                self.edge(i, E_PROPERTY, self.s(name), value)
                done.add(id(value))
                info.tried.add(name)
                info.learned.append(name)
        if len(done) + (id(t) in want) < len(want):
            self._fold_dict(i, obj, t, info, done)

    def _fold_dict(self, i: int, obj: object, t: type, info: _TypeInfo, done: set[int]) -> bool:
        """Fold an instance's ``__dict__`` that exists as a dict (3.10, or made by ``vars()``).

        Only when it is the one referent left (besides the class), so that reading
        ``__dict__`` never makes a dict that was not there.
        """
        left = [r for r in gc.get_referents(obj) if id(r) not in done and r is not t]
        if len(left) != 1 or type(left[0]) is not dict:
            return False
        try:
            d = object.__getattribute__(obj, "__dict__")
        except Exception:
            return False
        if d is not left[0] or self.index_get(id(d)) not in (None, i):
            return False
        self.index_set(id(d), i)
        info.folded = True
        self.add_size(i, sys.getsizeof(d))
        for k, v in dict.items(d):
            if type(k) is str:
                self.edge(i, E_PROPERTY, self.s(k), v)
                if k not in info.tried:
                    info.tried.add(k)
                    info.learned.append(k)
        done.add(id(d))
        return True

    def _rest(self, i: int, obj: object, done: set[int], refs: list[Any] | None = None) -> None:
        for ref in gc.get_referents(obj) if refs is None else refs:
            if id(ref) not in done:
                self.edge(i, E_INTERNAL, self.s(type(ref).__name__), ref)

    def close(self) -> None:
        """Drop the walked objects (also after a failed walk)."""
        self.objs.clear()
        self.gc_objects = []

    # -- output -------------------------------------------------------------------------
    @property
    def node_count(self) -> int:
        return len(self.objs)

    def tables(self) -> dict[str, Any]:
        import numpy as np

        n = len(self.objs)
        real = np.ones(n, dtype=bool)
        real[: self.synthetic] = False  # the synthetic nodes come first
        addrs = np.fromiter(map(id, self.objs), dtype=np.int64, count=n)
        trefs = np.fromiter((id(type(o)) for o in self.objs), dtype=np.int64, count=n)
        traces = (
            self._traces(self.objs.__getitem__, self.n_size) if tracemalloc.is_tracing() else None
        )
        self.objs.clear()  # drop our references before writing
        self.gc_objects = []
        self.index.clear()
        ids = np.zeros(n, dtype=np.int64)
        ids[real] = _REGISTRY.assign(addrs[real], trefs[real])
        synth = np.flatnonzero(~real)
        ids[synth] = 2 * (synth + 1)  # synthetic nodes: small even ids, like V8's
        ids[0] = 1  # V8's root has id 1
        e = np.frombuffer(self.edges, dtype=np.int64).reshape(-1, 4)
        src = e[:, 0]
        order = np.argsort(src, kind="stable")
        counts = np.bincount(src, minlength=n).astype(np.int64)
        nodes = np.zeros((n, len(NODE_FIELDS)), dtype=np.int64)
        nodes[:, 0] = np.frombuffer(self.n_type, dtype=np.int8)
        nodes[:, 1] = np.frombuffer(self.n_name, dtype=np.int64)
        nodes[:, 2] = ids
        nodes[:, 3] = np.frombuffer(self.n_size, dtype=np.int64)
        nodes[:, 4] = counts
        if traces is not None:
            nodes[:, 5] = traces[0]
        edges = np.zeros((len(src), 3), dtype=np.int64)
        edges[:, 0] = e[order, 1]
        edges[:, 1] = e[order, 2]
        edges[:, 2] = e[order, 3] * len(NODE_FIELDS)
        loc = np.array(
            [(k * len(NODE_FIELDS), s, line, 0) for k, s, line in self.locations],
            dtype=np.int64,
        ).reshape(-1, 4)
        return {
            "node_count": n,
            "edge_count": len(src),
            "total_size": int(nodes[:, 3].sum()),
            "nodes": nodes,
            "edges": edges,
            "locations": loc,
            "trace_function_infos": [] if traces is None else traces[1],
            "trace_tree": [] if traces is None else traces[2],
            "strings": list(self.strings),
        }

    def _traces(self, obj: Any, sizes: Any) -> tuple[Any, list[int], list[Any]]:
        """Allocation sites from tracemalloc, as the format's trace tables.

        Each node's ``trace_node_id`` names a node of ``trace_tree``: the call path (oldest
        frame first) where the object was allocated; ``trace_function_infos`` holds one
        entry per source line (tracemalloc records files and lines, not function names).
        """
        import numpy as np

        n = self.node_count
        trace_ids = np.zeros(n, dtype=np.int64)
        infos = [0, self.s("(root)"), 0, 0, 0, 0]
        funcs: dict[tuple[str, int], int] = {}
        # trace node k: [id, function index, count, size, children {function: node}]
        tree: list[list[Any]] = [[1, 0, 0, 0, {}]]
        for k in range(self.synthetic, n):
            tb = tracemalloc.get_object_traceback(obj(k))
            if tb is None:
                continue
            cur = tree[0]
            for frame in tb:  # oldest first
                key = (frame.filename, frame.lineno)
                f = funcs.get(key)
                if f is None:
                    f = funcs[key] = len(funcs) + 1
                    script = self.scripts.setdefault(frame.filename, len(self.scripts) + 1)
                    label = f"{_short(frame.filename)}:{frame.lineno}"
                    infos += [f, self.s(label), self.s(frame.filename), script, frame.lineno, 0]
                child = cur[4].get(f)
                if child is None:
                    child = cur[4][f] = [len(tree) + 1, f, 0, 0, {}]
                    tree.append(child)
                cur = child
            cur[2] += 1
            cur[3] += int(sizes[k])
            trace_ids[k] = cur[0]

        def nested(node: list[Any]) -> list[Any]:
            kids: list[Any] = []
            for child in node[4].values():
                kids.extend(nested(child))
            return [node[0], node[1], node[2], node[3], kids]

        return trace_ids, infos, nested(tree[0])


def _native_module() -> Any:
    """``memhound._native._heapwalk`` where it is built and wanted, else None.

    ``MEMHOUND_NO_NATIVE=1`` in the environment chooses the pure-Python walker.
    """
    native = load("_heapwalk")
    if native is None:
        return None
    expected_nodes = {"hidden": N_HIDDEN, "string": N_STRING, "object": N_OBJECT}
    expected_nodes.update(number=N_NUMBER, synthetic=N_SYNTHETIC)
    expected_edges = {"context": E_CONTEXT, "element": E_ELEMENT, "property": E_PROPERTY}
    expected_edges.update(internal=E_INTERNAL, hidden=E_HIDDEN, weak=E_WEAK)
    if (
        not hasattr(native, "Registry")  # an extension built from older source
        or expected_nodes != native.NODE_TYPES
        or expected_edges != native.EDGE_TYPES
        or len(NODE_FIELDS) != native.NODE_FIELDS
    ):
        return None  # built from another version of the format's tables
    return native


class _NativeWalker(_Walker):
    """The same walk with its hot loop in C (``memhound._native._heapwalk``).

    The C ``Walk`` keeps the graph in flat arrays and visits str, numbers, bytes, exact
    containers, cells and instances of types already seen; it calls :meth:`_visit_safe` (the
    Python walker's visit) for everything that needs Python-level knowledge, whose edges come
    back through the same C methods.
    """

    def __init__(self, gc_objects: list[object], redact: bool, native: Any) -> None:
        self.gc_objects = gc_objects
        self.redact = redact
        self.types = {}
        self.infos = {}
        self.locations = []
        self.scripts = {}
        self.synthetic = 0
        self.registry = _native_registry(native)
        # about two nodes per gc object (their str, int... are not tracked): the index is
        # sized for that at once rather than grown (each growth rehashes every node)
        hint = 2 * len(gc_objects)
        w = self.w = native.Walk(self._visit_safe, self.infos, redact, NAME_CHARS, hint)
        self.s = w.s  # type: ignore[method-assign]
        self.add = w.add  # type: ignore[method-assign]
        self.edge = w.edge  # type: ignore[method-assign]
        self.edge_to_node = w.edge_to_node  # type: ignore[method-assign]
        self.set_node = w.set_node  # type: ignore[method-assign]
        self.add_size = w.add_size  # type: ignore[method-assign]
        self.index_get = w.index_get  # type: ignore[method-assign]
        self.index_set = w.index_set  # type: ignore[method-assign]
        self._drain = w.drain  # type: ignore[method-assign]
        own = (self, w, gc_objects, self.types, self.infos, self.__dict__, _REGISTRY)
        for obj in (*own, _NATIVE_REGISTRY, *_NATIVE_REGISTRY):
            w.index_set(id(obj), -1)

    def close(self) -> None:
        self.w.release()  # also breaks the cycle through the C walk's visit callback
        self.gc_objects = []

    def synthetic_node(self, name: str) -> int:
        i: int = self.w.synthetic_node(self.s(name))
        self.synthetic += 1
        return i

    def _held_pass(self, held: int) -> int:
        count: int = self.w.held_pass(self.gc_objects, held)
        return count

    def _unreachable_nodes(self) -> list[int]:
        # every node is known by now: the ids are given while the walk's index is there
        # (assign_ids frees it, before unreachable() needs its memory)
        self.w.assign_ids(self.registry)
        nodes: list[int] = self.w.unreachable()
        return nodes

    @property
    def node_count(self) -> int:
        count: int = self.w.counts[0]
        return count

    def tables(self) -> dict[str, Any]:
        import numpy as np

        w = self.w
        n, n_edges = w.counts[:2]
        traces = None
        if tracemalloc.is_tracing():
            traces = self._traces(w.obj, np.frombuffer(w.sizes(), dtype=np.uint32))
        w.release()  # drop our references before writing
        self.gc_objects = []
        trace_ids = None if traces is None else np.ascontiguousarray(traces[0], dtype=np.int64)
        base = len(w.strings)  # the texts of str and bytes nodes follow the string table
        step = 65536
        loc = np.array(
            [(k * len(NODE_FIELDS), s, line, 0) for k, s, line in self.locations],
            dtype=np.int64,
        ).reshape(-1, 4)

        def text_chunks() -> Iterator[bytes]:
            size = w.counts[3]
            for start in range(0, size, 1 << 20):
                yield w.texts(start, start + (1 << 20))

        return {
            "node_count": n,
            "edge_count": n_edges,
            "total_size": w.total_size(),
            "nodes": (
                w.nodes_json(k, min(k + step, n), base, None, trace_ids) for k in range(0, n, step)
            ),
            "edges": (w.edges_json(k, min(k + step, n_edges)) for k in range(0, n_edges, step)),
            "locations": loc,
            "trace_function_infos": [] if traces is None else traces[1],
            "trace_tree": [] if traces is None else traces[2],
            "strings": w.strings,
            "texts": text_chunks(),
        }


def _unreachable(n: int, edges: array[int], root: int) -> list[int]:
    """Nodes the root does not reach through non-weak edges."""
    import numpy as np

    e = np.frombuffer(edges, dtype=np.int64).reshape(-1, 4)
    strong = e[:, 1] != E_WEAK
    to = e[strong, 3]
    src = e[strong, 0]
    order = np.argsort(src, kind="stable")
    to = to[order]
    first = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=first[1:])
    seen = np.zeros(n, dtype=bool)
    seen[root] = True
    frontier = np.array([root], dtype=np.int64)
    while frontier.size:
        starts = first[frontier]
        lens = first[frontier + 1] - starts
        total = int(lens.sum())
        if not total:
            break
        offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
        nxt = np.unique(to[offsets])
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return [int(i) for i in np.flatnonzero(~seen)]


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _write_json(fh: _Sink, tables: dict[str, Any]) -> None:
    import json

    head = {
        "meta": META,
        "node_count": tables["node_count"],
        "edge_count": tables["edge_count"],
        "trace_function_count": len(tables["trace_function_infos"]) // 6,
    }
    fh.write(b'{"snapshot":' + json.dumps(head).encode() + b",\n")

    def rows_of(key: str) -> None:
        fh.write(f'"{key}":['.encode())
        rows = tables[key]
        chunks = _row_chunks(rows) if hasattr(rows, "shape") else rows
        for k, chunk in enumerate(chunks):
            fh.write((b",\n" if k else b"") + chunk)
        fh.write(b"],\n")

    # V8's order of sections, which Chrome DevTools' loader relies on: it looks for each key
    # in turn from where the previous one ended, so "locations" written before the trace
    # tables was searched for further on, and found among the strings.
    rows_of("nodes")
    rows_of("edges")
    fh.write(b'"trace_function_infos":' + json.dumps(tables["trace_function_infos"]).encode())
    fh.write(b',\n"trace_tree":' + json.dumps(tables["trace_tree"]).encode())
    fh.write(b',\n"samples":[],\n')
    rows_of("locations")
    fh.write(b'"strings":[')
    strings: list[str] = tables["strings"]
    step = 4096
    for start in range(0, len(strings), step):
        chunk = ",\n".join(json.dumps(s) for s in strings[start : start + step])
        fh.write((",\n" if start else "").encode() + chunk.encode())
    for chunk in tables.get("texts", ()):  # each text JSON already, preceded by a comma
        fh.write(chunk)
    fh.write(b"]}\n")


def _row_chunks(rows: Any) -> Iterator[bytes]:
    step = 65536
    for start in range(0, rows.shape[0], step):
        block = rows[start : start + step]
        yield ",".join(map(str, block.ravel().tolist())).encode()


def _type_name(t: type) -> str:
    module = getattr(t, "__module__", None)
    qual = getattr(t, "__qualname__", t.__name__)
    if module in (None, "builtins"):
        return str(qual)
    return f"{module}.{qual}"


def _short(filename: str) -> str:
    """A file name as users recognise it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def _weak_target(ref: object) -> object | None:
    if isinstance(ref, weakref.ReferenceType):
        try:
            return ref()
        except Exception:
            return None
    return None  # a proxy hides its referent: calling anything on it would run user code


def _slots_of(t: type) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for klass in t.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if not isinstance(name, str) or name in ("__dict__", "__weakref__") or name in seen:
                continue
            mangled = f"_{klass.__name__.lstrip('_')}{name}" if name.startswith("__") else name
            desc = klass.__dict__.get(mangled)
            if isinstance(desc, types.MemberDescriptorType):
                seen.add(name)
                out.append((name, desc))
    return out


def _attribute_candidates(t: type) -> list[str]:
    """Names an instance attribute of ``t`` may have, read from its classes' code.

    Only names that ``object.__getattribute__`` resolves without running user code: names
    whose class attribute is a descriptor (methods, properties) are left out.
    """
    names: dict[str, None] = {}
    for klass in t.__mro__:
        if klass is object:
            continue
        ns = klass.__dict__
        for key in ("__dataclass_fields__", "__annotations__"):
            value = ns.get(key)
            if isinstance(value, dict):
                names.update(dict.fromkeys(k for k in value if isinstance(k, str)))
        for value in list(ns.values()):
            for code in _codes_of(value):
                names.update(dict.fromkeys(code.co_names))
                names.update(
                    dict.fromkeys(c for c in code.co_consts if type(c) is str and c.isidentifier())
                )
    out = []
    for name in names:
        if name in ("__dict__", "__class__", "__weakref__"):
            continue
        found = False
        for klass in t.__mro__:
            if name in klass.__dict__:
                found = hasattr(type(klass.__dict__[name]), "__get__")
                break
        if not found:
            out.append(name)
    return out


def _codes_of(value: object) -> Iterator[types.CodeType]:
    stack: list[object] = [value]
    seen = 0
    while stack and seen < 200:
        v = stack.pop()
        seen += 1
        if isinstance(v, staticmethod | classmethod):
            stack.append(v.__func__)
        elif isinstance(v, property):
            stack.extend(f for f in (v.fget, v.fset, v.fdel) if f is not None)
        elif isinstance(v, types.FunctionType):
            stack.append(v.__code__)
        elif isinstance(v, types.CodeType):
            yield v
            stack.extend(c for c in v.co_consts if isinstance(c, types.CodeType))
