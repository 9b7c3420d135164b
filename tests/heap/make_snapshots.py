"""Run in a fresh interpreter: build a known heap, write snapshots into the directory argv[1].

main.heapsnapshot: 20,000 Orders on a module list, a closure holding a Payload, a thread
holding a Session in a local. redacted.heapsnapshot.gz: the same, strings redacted.
a/b/c.heapsnapshot: 500 Leaks made between a and b (and Temps dropped), 100 of them
dropped before c.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heapapp import cache
from heapapp.models import Leak, Session, Temp

from memhound.heap import snapshot


def worker(ready: threading.Event, stop: threading.Event) -> None:
    session = Session()
    ready.set()
    stop.wait(30)
    del session


def main() -> None:
    out = Path(sys.argv[1])
    cache.load_orders(20_000)
    cache.register()
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=worker, args=(ready, stop), name="heap-worker")
    t.start()
    ready.wait(10)
    try:
        snapshot(out / "main.heapsnapshot")
        snapshot(out / "redacted.heapsnapshot.gz", redact_strings=True)
    finally:
        stop.set()
        t.join()
    cache.ORDERS.clear()
    cache.HANDLERS.clear()
    snapshot(out / "a.heapsnapshot")
    temps = [Temp() for _ in range(300)]
    cache.LEAKS.extend(Leak(i) for i in range(500))
    del temps
    snapshot(out / "b.heapsnapshot")
    del cache.LEAKS[:100]
    snapshot(out / "c.heapsnapshot")


if __name__ == "__main__":
    main()
