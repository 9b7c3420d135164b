"""The format check every saved file of memhound's makes when it is read back."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from memhound.errors import RunFormatError


def check_format(
    d: dict[str, Any], *, name: str, version: int, what: str, where: str | None = None
) -> None:
    """``d`` (read from ``where``) carries ``"format": name`` and a version this memhound reads
    (older ones are read as they are; a newer one is refused, saying to upgrade)."""
    if not isinstance(d, dict):
        prefix = f"{where} is " if where else ""
        raise RunFormatError(f"{prefix}not a memhound {what} (not a JSON object)")
    if d.get("format") != name:
        prefix = f"{where} is " if where else ""
        raise RunFormatError(f"{prefix}not a memhound {what} (format {d.get('format')!r})")
    found = d.get("version", 0)
    if not isinstance(found, int) or isinstance(found, bool) or found < 0:
        prefix = f"{where}: " if where else ""
        raise RunFormatError(f"{prefix}{what} format version {found!r} is not a version")
    if found > version:
        prefix = f"{where}: " if where else ""
        raise RunFormatError(
            f"{prefix}{what} format version {d['version']} is newer than this memhound",
            hint="upgrade memhound to read it",
        )


def check_types(obj: object) -> None:
    """Raise ``ValueError`` naming the first field of dataclass ``obj`` (and of the
    dataclasses, tuples and dicts inside it) whose value is not of its annotated type.

    Records read back from files pass values through as the JSON held them; a damaged or
    hand-edited file could hand the analysis a string where it adds numbers. Numbers must be
    finite; an ``int`` is accepted for a ``float``, a ``bool`` never for a number. The checks
    are built once per class (a timeline of 72,000 lines is read in a few seconds).
    """
    _checker(type(obj))(obj, "")


_Check = Callable[[Any, str], None]
_CHECKERS: dict[Any, _Check] = {}


def _checker(hint: Any) -> _Check:
    found = _CHECKERS.get(hint)
    if found is None:
        found = _CHECKERS[hint] = _build(hint)
    return found


def _fail(where: str, value: object, what: str) -> None:
    raise ValueError(f"{where or 'the value'}: {value!r} is not {what}")


def _build(hint: Any) -> _Check:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return lambda value, where: None
    if origin in (types.UnionType, typing.Union):
        options = [_checker(a) for a in args]

        def union(value: Any, where: str) -> None:
            error = None
            for check in options:
                try:
                    check(value, where)
                    return
                except ValueError as exc:
                    error = exc
            raise ValueError(str(error))

        return union
    if hint is type(None):
        return lambda value, where: None if value is None else _fail(where, value, "null")
    if hint in (int, float):
        kinds = int if hint is int else (int, float)

        def number(value: Any, where: str) -> None:
            if (
                not isinstance(value, kinds)
                or isinstance(value, bool)
                or (isinstance(value, float) and not math.isfinite(value))
            ):
                _fail(where, value, f"a finite {hint.__name__}")

        return number
    if hint in (str, bool):
        return lambda v, where: None if isinstance(v, hint) else _fail(where, v, hint.__name__)
    if origin in (tuple, list):
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            item = _checker(args[0])

            def sequence(value: Any, where: str) -> None:
                if not isinstance(value, origin):
                    _fail(where, value, f"a {origin.__name__}")
                for i, v in enumerate(value):
                    item(v, f"{where}[{i}]")

            return sequence
        items = [_checker(a) for a in args]

        def fixed(value: Any, where: str) -> None:
            if not isinstance(value, tuple) or len(value) != len(items):
                _fail(where, value, f"a tuple of {len(items)}")
            for i, (v, check) in enumerate(zip(value, items, strict=True)):
                check(v, f"{where}[{i}]")

        return fixed
    if origin is dict:
        key, val = _checker(args[0]), _checker(args[1])

        def mapping(value: Any, where: str) -> None:
            if not isinstance(value, dict):
                _fail(where, value, "an object")
            for k, v in value.items():
                key(k, f"{where} key")
                val(v, f"{where}[{k!r}]")

        return mapping
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        fields = [(f.name, _checker(hints[f.name])) for f in dataclasses.fields(hint)]
        cls = hint

        def record(value: Any, where: str) -> None:
            if not isinstance(value, cls):
                _fail(where, value, f"a {cls.__name__}")
            prefix = f"{where}." if where else ""
            for name, check in fields:
                check(getattr(value, name), prefix + name)

        return record
    if isinstance(hint, type):
        return lambda v, where: None if isinstance(v, hint) else _fail(where, v, hint.__name__)
    return lambda value, where: None  # an annotation this check does not know: not checked
