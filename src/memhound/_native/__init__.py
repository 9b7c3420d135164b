"""memhound's C extensions: the allocation engine (``_alloc.c``, see ``memhound.alloc.engine``)
and the heap walker and snapshot arrays (``_heapwalk.c``, see ``memhound.heap``)."""

from __future__ import annotations

import os

#: "1" chooses the pure-Python heap walker and reader over ``_heapwalk`` (both are tested
#: against each other); "", "0" or unset use the extension where it is built.
ENV_NO_NATIVE = "MEMHOUND_NO_NATIVE"


def heapwalk_turned_off() -> bool:
    return os.environ.get(ENV_NO_NATIVE, "") not in ("", "0")
