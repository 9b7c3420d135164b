"""memhound's C extensions: ``_heapwalk`` (the heap walker's and the snapshot reader's hot loops,
see ``memhound.heap``) and ``_alloc`` (the allocation engine, see ``memhound.alloc.engine``).

Both are optional: where no compiler was at hand the pure-Python code does the same work, so
every caller loads them through :func:`load` and takes ``None`` as "not here".
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: ``MEMHOUND_NO_NATIVE=1`` chooses the pure-Python heap walker and reader (tests run every
#: heap check against both). The allocation engine is chosen by name instead
#: (``engine="tracemalloc"``), so this switch leaves it alone.
ENV_NO_NATIVE = "MEMHOUND_NO_NATIVE"
_SWITCHED_OFF_BY_ENV = frozenset({"_heapwalk"})


def load(name: str) -> ModuleType | None:
    """``memhound._native.NAME`` (``"_heapwalk"`` or ``"_alloc"``), or None where it is not
    built for this interpreter or is switched off by ``MEMHOUND_NO_NATIVE``. Callers check
    that what they need is there: an extension built from older source lacks newer functions.
    """
    if name in _SWITCHED_OFF_BY_ENV and os.environ.get(ENV_NO_NATIVE, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError:
        return None
